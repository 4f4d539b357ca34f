// A vif's `forward=` (the NAT's TCP port forwards), parsed without the NAT (the config parser needs it;
// the NAT needs Node's sockets).
import { ipNum } from "./ip";

/**
 * A port forward as a vif's `forward=` gives it: "tcp:HOSTPORT:GUESTPORT" (the host's 127.0.0.1) or
 * "tcp:ADDRESS:HOSTPORT:GUESTPORT". Only TCP is forwarded.
 */
export function parseForward(s: string): { hostAddr?: string; hostPort: number; guestPort: number } {
  const p = s.trim().split(":");
  const port = (x: string) => (/^\d{1,5}$/.test(x) && Number(x) >= 1 && Number(x) <= 65535 ? Number(x) : -1);
  if (p[0] !== "tcp")
    throw new Error(`bad forward ${JSON.stringify(s)}: only tcp:[ADDRESS:]HOSTPORT:GUESTPORT is supported`);
  const [addr, hp, gp] =
    p.length === 4 ? [p[1], p[2], p[3]] : p.length === 3 ? [undefined, p[1], p[2]] : [undefined, "", ""];
  if (port(hp) < 0 || port(gp) < 0 || (addr !== undefined && ipNum(addr) === undefined)) {
    throw new Error(
      `bad forward ${JSON.stringify(s)}: want tcp:[ADDRESS:]HOSTPORT:GUESTPORT (ports 1-65535, an IPv4 address)`
    );
  }
  return { ...(addr !== undefined ? { hostAddr: addr } : {}), hostPort: port(hp), guestPort: port(gp) };
}
