#!/usr/bin/env node
require('../dist/launch.cjs').main(process.argv).then((status) => (process.exitCode = status));
