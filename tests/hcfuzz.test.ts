// A hostile guest's hypercalls (issue 12): 10^4 seeded random and edge-case calls per width
// (guests/pv/hcfuzz.c) while another domain runs next to it. No wasm trap and no host exception (either
// fails the test by throwing), the fuzzing guest's frames all back in the pool after it is gone, and
// the other domain's frames (list, types, contents) unchanged. `npm run bench:fuzz-hypercalls` runs 10^6.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fuzzHypercalls } from "./lib/hcfuzz";

for (const bits of [64, 32] as const) {
  test(`hypercall fuzzer (${bits}-bit): 10^4 seeded calls, the other domain unchanged, no frame leaked`, async () => {
    const r = await fuzzHypercalls(bits, 12, 10_000);
    assert.ok(r.victimFrames >= 4096, `the victim's ${r.victimFrames} frames were hashed`);
    assert.ok(r.victimSame, "the victim's memory changed");
    assert.ok(r.victimRunning, "the victim stopped");
    assert.is(r.framesLeaked, 0, "frames not returned to the pool");
    // The run really went through the calls: most were made by guests that lived to make the next one.
    assert.ok(r.restarts < r.calls / 10, `restarted ${r.restarts} times`);
  });
}

test.run();
