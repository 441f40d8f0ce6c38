#!/usr/bin/env node
import { createRequire } from 'node:module';
process.exitCode = await createRequire(import.meta.url)('../dist/launch.cjs').main(process.argv);
