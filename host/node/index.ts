// xenwasm as a library under Node, Bun and Deno: everything host/index.ts has, with the core read from
// build/xenwasm.wasm and disks opened from files (host/node/platform.ts), plus what needs Node's APIs:
// the user-mode NAT for a host's vifs and file-backed disks.
import "./platform";
export * from "../index";
export { wasmPath } from "./platform";
export { FileBlockDevice } from "./disk";
export { enableNat, natOptionsFromEnv, type NatOptions, NatUplink } from "../devices/net/nat";
