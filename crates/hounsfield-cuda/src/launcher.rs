//! Where kernels run: a [`Gpu`], or the CPU [`Emulated`] (the same CUDA C compiled as C++).
//! Every operation of this crate builds its argument list once and hands it to a `Launcher`, so
//! the host code (argument order, slabs, fixed-point scale) is exercised by the emulator in CI
//! exactly as it runs on a GPU.

use std::collections::HashMap;
use std::sync::Mutex;

use cudarc::driver::{CudaSlice, PushKernelArg};

use crate::emulate::{Arg, Emulator};
use crate::kernels::Kernel;
use crate::launch::launch;
use crate::{Error, Gpu, Result};

/// Something that runs this crate's kernels.
pub trait Launcher: std::fmt::Debug {
    /// Runs `function` of `kernel` on `threads` threads; the buffers at `outputs` hold the
    /// kernel's writes afterwards.
    fn launch(
        &self,
        kernel: &Kernel,
        function: &str,
        threads: usize,
        args: &mut [Arg],
        outputs: &[usize],
    ) -> Result<()>;

    /// Bytes of memory the kernels' buffers may use (slabs are sized to half of it).
    fn free_memory(&self) -> Result<usize>;

    /// Marks the start of an operation for [`crate::last_kernel_seconds`].
    fn start_timing(&self) {}
}

enum Device {
    F32(CudaSlice<f32>),
    F64(CudaSlice<f64>),
    I32s(CudaSlice<i32>),
    U64(CudaSlice<u64>),
    I32(i32),
    I64(i64),
    Double(f64),
}

impl Launcher for Gpu {
    fn launch(
        &self,
        kernel: &Kernel,
        function: &str,
        threads: usize,
        args: &mut [Arg],
        outputs: &[usize],
    ) -> Result<()> {
        let f = self.function(kernel, function)?;
        let on_device: Vec<Device> = args
            .iter()
            .map(|a| {
                Ok(match a {
                    Arg::F32s(v) => Device::F32(self.upload(v)?),
                    Arg::F64s(v) => Device::F64(self.upload(v)?),
                    Arg::I32s(v) => Device::I32s(self.upload(v)?),
                    Arg::U64s(v) => Device::U64(self.upload(v)?),
                    Arg::I32(x) => Device::I32(*x),
                    Arg::I64(x) => Device::I64(*x),
                    Arg::F64(x) => Device::Double(*x),
                })
            })
            .collect::<Result<_>>()?;
        {
            let mut builder = self.stream().launch_builder(&f);
            for d in &on_device {
                match d {
                    Device::F32(s) => builder.arg(s),
                    Device::F64(s) => builder.arg(s),
                    Device::I32s(s) => builder.arg(s),
                    Device::U64(s) => builder.arg(s),
                    Device::I32(x) => builder.arg(x),
                    Device::I64(x) => builder.arg(x),
                    Device::Double(x) => builder.arg(x),
                };
            }
            self.timed(|| launch(&mut builder, threads))?;
        }
        for &i in outputs {
            match (&mut args[i], &on_device[i]) {
                (Arg::F32s(v), Device::F32(s)) => *v = self.download(s)?,
                (Arg::F64s(v), Device::F64(s)) => *v = self.download(s)?,
                (Arg::I32s(v), Device::I32s(s)) => *v = self.download(s)?,
                (Arg::U64s(v), Device::U64(s)) => *v = self.download(s)?,
                _ => {
                    return Err(Error::Invalid(format!(
                        "argument {i} of {function} is not a buffer"
                    )));
                }
            }
        }
        Ok(())
    }

    fn free_memory(&self) -> Result<usize> {
        Ok(self.memory()?.0)
    }

    fn start_timing(&self) {
        Gpu::start_timing(self);
    }
}

/// The kernels compiled for the CPU (see [`crate::emulate`]), with a pretend memory size so
/// tests can force the slab paths.
pub struct Emulated {
    memory: usize,
    built: Mutex<HashMap<&'static str, std::sync::Arc<Emulator>>>,
}

impl std::fmt::Debug for Emulated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulated").field("memory", &self.memory).finish_non_exhaustive()
    }
}

impl Emulated {
    /// An emulated device with `memory` bytes free.
    pub fn new(memory: usize) -> Self {
        Emulated { memory, built: Mutex::new(HashMap::new()) }
    }

    fn emulator(&self, kernel: &Kernel) -> Result<std::sync::Arc<Emulator>> {
        let mut built =
            self.built.lock().map_err(|_| Error::Driver("emulator cache poisoned".into()))?;
        if let Some(e) = built.get(kernel.name) {
            return Ok(std::sync::Arc::clone(e));
        }
        let e = std::sync::Arc::new(Emulator::build(kernel)?);
        built.insert(kernel.name, std::sync::Arc::clone(&e));
        Ok(e)
    }
}

impl Launcher for Emulated {
    fn launch(
        &self,
        kernel: &Kernel,
        function: &str,
        threads: usize,
        args: &mut [Arg],
        _outputs: &[usize],
    ) -> Result<()> {
        self.emulator(kernel)?.launch(function, threads, args)
    }

    fn free_memory(&self) -> Result<usize> {
        Ok(self.memory)
    }
}
