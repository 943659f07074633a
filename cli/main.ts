#!/usr/bin/env node
import { processOutput } from './output.js';
import { runVigilctl } from './run.js';

void runVigilctl(process.argv.slice(2), processOutput()).then((code) => { process.exitCode = code; });
