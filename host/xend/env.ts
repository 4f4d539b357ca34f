// xend's numeric settings from the environment: a value that is not a whole number in range is an
// error naming the variable (never NaN taken silently for the default, never a raw conversion error).
// `checkXendEnv()` reads them all, so that `xend start`/`run` refuse bad ones before anything is made.
import { jitSettings } from "../jit/jit";

/** The whole number in `env[name]` (min..max), or `dflt` when unset or empty; throws Error otherwise. */
export function envInt(
  name: string, dflt: number, min: number, max: number, unit: string, env: NodeJS.ProcessEnv = process.env
): number {
  const s = env[name];
  if (s === undefined || s === "") return dflt;
  const t = s.trim();
  if (!/^\d{1,15}$/.test(t) || Number(t) < min || Number(t) > max)
    throw new Error(`${name}=${s}: expected a whole number of ${unit}, ${min} to ${max}`);
  return Number(t);
}

const DAY_MS = 86_400_000;
/** How long xend waits for a domain to suspend itself (XEND_SUSPEND_TIMEOUT_MS; 30 s). */
export const suspendTimeoutMs = (env = process.env) =>
  envInt("XEND_SUSPEND_TIMEOUT_MS", 30000, 1, DAY_MS, "milliseconds", env);
/** How long a detach waits for the frontend to let go (XEND_DETACH_TIMEOUT_MS; 10 s). */
export const detachTimeoutMs = (env = process.env) =>
  envInt("XEND_DETACH_TIMEOUT_MS", 10000, 1, DAY_MS, "milliseconds", env);
/** How long a migration send may wait for the peer to take data (XEND_MIGRATE_SEND_TIMEOUT_MS; 60 s). */
export const migrateSendTimeoutMs = (env = process.env) =>
  envInt("XEND_MIGRATE_SEND_TIMEOUT_MS", 60000, 1, DAY_MS, "milliseconds", env);
/** How long `xend stop --shutdown` waits for the domains (XENDOMAINS_STOP_MAXWAIT; 300 s). */
export const stopMaxWaitSeconds = (env = process.env) =>
  envInt("XENDOMAINS_STOP_MAXWAIT", 300, 1, 86400, "seconds", env);

/** Every numeric setting above and the JIT's (XENWASM_JIT, XENWASM_JIT_THRESHOLD), checked (throws the first bad one's
 *  Error). */
export function checkXendEnv(env = process.env): void {
  suspendTimeoutMs(env); detachTimeoutMs(env); migrateSendTimeoutMs(env); stopMaxWaitSeconds(env);
  jitSettings();
}
