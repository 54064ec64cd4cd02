//! Runs the CUDA C kernels on the CPU, compiled as C++ by the system's `g++` with a small shim
//! for the CUDA built-ins (thread indices, 64-bit `atomicAdd`, `sincos`...), one thread after the
//! other. This is how the kernels' logic is tested against the CPU implementations on machines
//! without a GPU (CI included); timing and memory behaviour still need a real device.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::kernels::Kernel;
use crate::{Error, Result};

/// One kernel argument: a buffer (read back after the launch) or a scalar.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// `float*`.
    F32s(Vec<f32>),
    /// `double*`.
    F64s(Vec<f64>),
    /// `int*`.
    I32s(Vec<i32>),
    /// `unsigned long long*`.
    U64s(Vec<u64>),
    /// `int`.
    I32(i32),
    /// `long long`.
    I64(i64),
    /// `double`.
    F64(f64),
}

impl Arg {
    fn encode(&self, out: &mut Vec<u8>) {
        let (tag, bytes): (u8, Vec<u8>) = match self {
            Arg::F32s(v) => (0, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Arg::F64s(v) => (1, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Arg::I32s(v) => (2, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Arg::U64s(v) => (3, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Arg::I32(x) => (4, x.to_le_bytes().to_vec()),
            Arg::I64(x) => (5, x.to_le_bytes().to_vec()),
            Arg::F64(x) => (6, x.to_le_bytes().to_vec()),
        };
        out.push(tag);
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(&bytes);
    }

    /// Replaces a buffer's contents with `bytes` (little endian); scalars take none.
    fn decode(&mut self, bytes: &[u8]) -> usize {
        fn fill<T, const N: usize>(v: &mut [T], b: &[u8], f: fn([u8; N]) -> T) -> usize {
            for (x, c) in v.iter_mut().zip(b.chunks_exact(N)) {
                *x = f(c.try_into().unwrap_or([0; N]));
            }
            v.len() * N
        }
        match self {
            Arg::F32s(v) => fill(v, bytes, f32::from_le_bytes),
            Arg::F64s(v) => fill(v, bytes, f64::from_le_bytes),
            Arg::I32s(v) => fill(v, bytes, i32::from_le_bytes),
            Arg::U64s(v) => fill(v, bytes, u64::from_le_bytes),
            Arg::I32(_) | Arg::I64(_) | Arg::F64(_) => 0,
        }
    }
}

/// C++ for what CUDA provides built in.
const SHIM: &str = r#"
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>
struct Dim3 { unsigned x = 0, y = 0, z = 0; };
static Dim3 blockIdx, blockDim, threadIdx;
#define __global__
#define __device__
static inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
    unsigned long long old = *p; *p = old + v; return old;
}
static inline void emulated_sincos(double x, double* s, double* c) { *s = std::sin(x); *c = std::cos(x); }
#define sincos emulated_sincos
static inline double __longlong_as_double(unsigned long long v) { double d; std::memcpy(&d, &v, 8); return d; }
using std::min; using std::max; using std::floor; using std::ceil; using std::fabs; using std::sqrt;
using std::isfinite; using std::isnan; using std::fmax; using std::fmin; using std::atan2; using std::llrint;
"#;

/// The launch loop and the argument file reader.
const DRIVER: &str = r#"
static std::vector<std::vector<unsigned char>> args;
template <class T> T arg(int i) {
    if constexpr (std::is_pointer<T>::value) { return reinterpret_cast<T>(args[i].data()); }
    else { T v; std::memcpy(&v, args[i].data(), sizeof(T)); return v; }
}
int main(int argc, char** argv) {
    if (argc != 3) return 2;
    FILE* f = std::fopen(argv[1], "rb");
    if (!f) return 3;
    uint32_t name_len; if (std::fread(&name_len, 4, 1, f) != 1) return 4;
    std::string name(name_len, ' '); if (std::fread(&name[0], 1, name_len, f) != name_len) return 4;
    uint64_t threads; uint32_t n; if (std::fread(&threads, 8, 1, f) != 1 || std::fread(&n, 4, 1, f) != 1) return 4;
    std::vector<unsigned char> tags(n);
    for (uint32_t i = 0; i < n; ++i) {
        uint64_t len; if (std::fread(&tags[i], 1, 1, f) != 1 || std::fread(&len, 8, 1, f) != 1) return 4;
        std::vector<unsigned char> bytes(len + 8, 0);
        if (len && std::fread(bytes.data(), 1, len, f) != len) return 4;
        bytes.resize(len ? len : 8);
        args.push_back(std::move(bytes));
    }
    std::fclose(f);
    blockDim.x = 256;
    bool found = false;
    for (uint64_t t = 0; t < threads; ++t) {
        blockIdx.x = (unsigned)(t / 256); threadIdx.x = (unsigned)(t % 256);
        CALLS
    }
    if (!found && threads > 0) return 5;
    FILE* o = std::fopen(argv[2], "wb");
    if (!o) return 6;
    for (uint32_t i = 0; i < n; ++i) if (tags[i] < 4) std::fwrite(args[i].data(), 1, args[i].size(), o);
    std::fclose(o);
    return 0;
}
"#;

/// The C++ call of each kernel, with its argument types in order.
fn call(function: &str) -> Option<&'static str> {
    Some(match function {
        "project_forward" => {
            "project_forward(arg<const double*>(0), arg<int>(1), arg<int>(2), arg<int>(3), arg<const int*>(4), arg<const double*>(5), arg<const float*>(6), arg<int>(7), arg<float*>(8))"
        }
        "project_adjoint" => {
            "project_adjoint(arg<const double*>(0), arg<int>(1), arg<int>(2), arg<int>(3), arg<const int*>(4), arg<const double*>(5), arg<const float*>(6), arg<double>(7), arg<unsigned long long*>(8))"
        }
        "fixed_to_float" => {
            "fixed_to_float(arg<const unsigned long long*>(0), arg<long long>(1), arg<double>(2), arg<float*>(3))"
        }
        "backproject" => {
            "backproject(arg<const double*>(0), arg<const double*>(1), arg<int>(2), arg<int>(3), arg<int>(4), arg<const float*>(5), arg<const int*>(6), arg<const double*>(7), arg<float*>(8))"
        }
        "conv3d_forward" => {
            "conv3d_forward(arg<const int*>(0), arg<const float*>(1), arg<const float*>(2), arg<float*>(3))"
        }
        "conv3d_backward_data" => {
            "conv3d_backward_data(arg<const int*>(0), arg<const float*>(1), arg<const float*>(2), arg<float*>(3))"
        }
        "conv3d_backward_weight_partial" => {
            "conv3d_backward_weight_partial(arg<const int*>(0), arg<const float*>(1), arg<const float*>(2), arg<int>(3), arg<float*>(4))"
        }
        "sum_chunks" => {
            "sum_chunks(arg<const float*>(0), arg<long long>(1), arg<int>(2), arg<float*>(3))"
        }
        _ => return None,
    })
}

/// One kernel source compiled for the CPU.
#[derive(Debug)]
pub struct Emulator {
    dir: PathBuf,
    exe: PathBuf,
    functions: &'static [&'static str],
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn scratch_dir(name: &str) -> Result<PathBuf> {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let k = COUNT.fetch_add(1, Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("hounsfield-emulate-{}-{name}-{k}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::Invalid(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}

impl Emulator {
    /// Compiles `kernel` with `g++` (or `$CXX`); an error if no compiler is found or it fails.
    pub fn build(kernel: &Kernel) -> Result<Emulator> {
        let dir = scratch_dir(kernel.name)?;
        let calls: String = kernel
            .functions
            .iter()
            .map(|f| {
                call(f)
                    .map(|c| format!("if (name == \"{f}\") {{ found = true; {c}; }}\n"))
                    .ok_or_else(|| Error::Invalid(format!("no emulator call for kernel {f}")))
            })
            .collect::<Result<_>>()?;
        let source = format!("{SHIM}\n{}\n{}", kernel.source, DRIVER.replace("CALLS", &calls));
        let cpp = dir.join(format!("{}.cpp", kernel.name));
        std::fs::write(&cpp, source)
            .map_err(|e| Error::Invalid(format!("{}: {e}", cpp.display())))?;
        let exe = dir.join(kernel.name);
        let cxx = std::env::var("CXX").unwrap_or_else(|_| "g++".into());
        let out = Command::new(&cxx)
            .args(["-O2", "-std=c++17", "-w", "-o"])
            .arg(&exe)
            .arg(&cpp)
            .output()
            .map_err(|e| Error::Compile {
                kernel: kernel.name,
                log: format!("running {cxx}: {e}"),
            })?;
        if !out.status.success() {
            return Err(Error::Compile {
                kernel: kernel.name,
                log: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(Emulator { dir, exe, functions: kernel.functions })
    }

    /// Runs `function` on `threads` threads (blocks of 256, as on the GPU); buffers in `args`
    /// hold the kernel's writes afterwards.
    pub fn launch(&self, function: &str, threads: usize, args: &mut [Arg]) -> Result<()> {
        if !self.functions.contains(&function) {
            return Err(Error::Invalid(format!("kernel {function} is not in this source")));
        }
        let mut call = Vec::new();
        call.extend_from_slice(&(function.len() as u32).to_le_bytes());
        call.extend_from_slice(function.as_bytes());
        call.extend_from_slice(&(threads as u64).to_le_bytes());
        call.extend_from_slice(&(args.len() as u32).to_le_bytes());
        args.iter().for_each(|a| a.encode(&mut call));
        let (input, output) = (self.dir.join("call.bin"), self.dir.join("out.bin"));
        write(&input, &call)?;
        let status = Command::new(&self.exe)
            .arg(&input)
            .arg(&output)
            .status()
            .map_err(|e| Error::Driver(format!("running the emulator: {e}")))?;
        if !status.success() {
            return Err(Error::Driver(format!("emulated {function} failed: {status}")));
        }
        let bytes = std::fs::read(&output)
            .map_err(|e| Error::Driver(format!("{}: {e}", output.display())))?;
        let mut at = 0;
        for a in args.iter_mut() {
            at += a.decode(&bytes[at.min(bytes.len())..]);
        }
        if at != bytes.len() {
            return Err(Error::Driver(format!(
                "emulated {function}: {} bytes back, expected {at}",
                bytes.len()
            )));
        }
        Ok(())
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::Driver(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use super::*;
    use crate::kernels::CONV3D;

    #[test]
    fn emulated_chunk_sums_add_in_order() {
        // sum_chunks over 3 chunks of 4 values: out[i] = sum_k partial[k * 4 + i].
        let emu = Emulator::build(&CONV3D).unwrap();
        let partial: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let mut args = [Arg::F32s(partial), Arg::I64(4), Arg::I32(3), Arg::F32s(vec![0.0; 4])];
        emu.launch("sum_chunks", 4, &mut args).unwrap();
        assert_eq!(args[3], Arg::F32s(vec![12.0, 15.0, 18.0, 21.0]));
        assert!(emu.launch("no_such_kernel", 1, &mut args).is_err());
    }
}
