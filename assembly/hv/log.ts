// The hypervisor's own log (what `xm dmesg` shows): a byte ring; HV_LOG_HEAD holds the total number of
// bytes ever written. A leaf module: anything in the core may log without importing hv/lifecycle.ts.
import { HV_LOG, HV_LOG_SIZE, HV_LOG_HEAD } from "../memmap";

export function logByte(b: u32): void {
  const head = load<u32>(HV_LOG_HEAD);
  store<u8>(HV_LOG + (head & (HV_LOG_SIZE - 1)), b as u8);
  store<u32>(HV_LOG_HEAD, head + 1);
}
export function logStr(s: string): void {
  for (let i = 0; i < s.length; i++) logByte(s.charCodeAt(i) as u32);
}
export function logNum(v: u64): void {
  if (v >= 10) logNum(v / 10);
  logByte(48 + ((v % 10) as u32));
}
export function logHex(v: u64): void {
  logStr("0x");
  let started = false;
  for (let i = 60; i >= 0; i -= 4) {
    const n = ((v >> (i as u64)) & 0xf) as u32;
    if (n != 0 || started || i == 0) { started = true; logByte(n < 10 ? 48 + n : 87 + n); }
  }
}
export function logDom(d: u32, msg: string): void {
  logStr("(XEN) d"); logNum(d as u64); logStr(": "); logStr(msg); logByte(10);
}
