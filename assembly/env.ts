// Functions the host supplies to the core (the wasm module's imports, module "env"). Numbers only.
// io_in(port, size) -> value; io_out(port, size, value) -> 0 to go on, non-zero to make run() return
// EXIT_HOST; time_ns() -> the host's monotonic time in nanoseconds.
@external("env", "io_in") export declare function hostIoIn(port: i32, size: i32): i32;
@external("env", "io_out") export declare function hostIoOut(port: i32, size: i32, value: i32): i32;
@external("env", "time_ns") export declare function hostTimeNs(): f64;
