#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=33554432 node --max-semi-space-size=4
/**
 * The `vigild` executable. It sizes libuv's thread pool while nothing has used it yet (see
 * threadpool.cts), then loads the real entry point, in the same process: systemd's main PID,
 * signals and sd_notify all stay with this process.
 */
import { threadPoolSizeFor } from './threadpool.cjs';

process.env['UV_THREADPOOL_SIZE'] ??= String(threadPoolSizeFor(process.argv.slice(2), process.env));
void import('./main.js');
