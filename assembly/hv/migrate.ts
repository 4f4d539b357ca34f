// Exports for the receiving end of a migration (host/migrate/): a frame that was sent during pre-copy
// but is no longer the domain's at the end (it ballooned it away) goes back to the pool.

// Release `mfn` of domain `d` (unused, untyped); 0, or -1 if it is not d's or still in use (hv/save.ts).
export function hv_free_frame(d: u32, mfn: u32): i32 { return freeFrame(d, mfn); }

// Restore, step by step (hv/save.ts): begin, the sender's frame list in chunks at MAILBOX, then
// hv_restore_fixup.
import { restoreBegin, restoreFrames, freeFrame } from "./save";
export function hv_restore_begin(bound: u32): void { restoreBegin(bound); }
export function hv_restore_frames(d: u32, n: u32): i32 { return restoreFrames(d, n); }

// The sender's last round (host/migrate/send.ts): d's page-table and descriptor frames from `fromMfn`
// on, as u32 mfns at MAILBOX; returns how many (0: no more).
import { frameOwner, frameType, framesHighWater, mfnValid, FIRST_MFN, PGT_L1, PGT_SEG_DESC } from "../domain/frames";
import { MAILBOX, MAILBOX_SIZE } from "../memmap";
export function hv_frames_typed(d: u32, fromMfn: u32): u32 {
  const max = (MAILBOX_SIZE >> 2) as u32;
  const top = framesHighWater();
  let n: u32 = 0;
  for (let m = fromMfn < FIRST_MFN ? FIRST_MFN : fromMfn; m < top && n < max; m++) {
    if (frameOwner(m) != d) continue;
    const t = frameType(m) as i32;
    if (t >= PGT_L1 && t <= PGT_SEG_DESC) { store<u32>(MAILBOX + ((n as i32) << 2), m); n++; }
  }
  return n;
}
// A frame's owner (0xffff: none or not a frame).
export function hv_frame_owner(mfn: u32): u32 { return mfnValid(mfn as u64) ? frameOwner(mfn) as u32 : 0xffff; }
