#!/usr/bin/env node
import { main } from '../dist/udsctl.mjs';
process.exitCode = await main(process.argv);
