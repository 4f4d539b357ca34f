#!/usr/bin/env -S node --v8-pool-size=1
// --v8-pool-size=1: one V8 platform thread (GC and WebAssembly compile tasks) rather than one per core: on 2-core
// machines the JIT's translator thread, V8's background work and the guest's thread compete less (README: bench:boot).
import "../dist/host/cli/xend.js";
