//! Device selection, the module cache and host <-> device copies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DeviceRepr};

use crate::kernels::{Kernel, compile};
use crate::{Error, Result};

/// One CUDA device with a stream and the kernels compiled for it so far.
pub struct Gpu {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    name: String,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("ordinal", &self.ctx.ordinal())
            .field("name", &self.name)
            .finish()
    }
}

impl Gpu {
    /// Opens device `ordinal`. Without a driver or a device this is [`Error::NoDevice`].
    pub fn open(ordinal: usize) -> Result<Arc<Gpu>> {
        if !crate::launch::driver_present() {
            return Err(Error::NoDevice(
                "the CUDA driver library (libcuda) is not installed".into(),
            ));
        }
        let count = CudaContext::device_count().map_err(|e| Error::NoDevice(e.to_string()))?;
        if ordinal >= usize::try_from(count).unwrap_or(0) {
            return Err(Error::NoDevice(format!("device {ordinal} asked for, {count} present")));
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| Error::NoDevice(e.to_string()))?;
        let stream = ctx.default_stream();
        let name = ctx.name().unwrap_or_else(|_| format!("CUDA device {ordinal}"));
        Ok(Arc::new(Gpu { ctx, stream, name, modules: Mutex::new(HashMap::new()) }))
    }

    /// Device 0, opened once per process (`HOUNSFIELD_DEVICE=cpu` refuses it, to compare paths).
    /// The first failure is remembered, so machines without a GPU pay for the probe once.
    pub fn shared() -> Result<Arc<Gpu>> {
        static SHARED: OnceLock<std::result::Result<Arc<Gpu>, String>> = OnceLock::new();
        let opened = SHARED.get_or_init(|| {
            if std::env::var("HOUNSFIELD_DEVICE").is_ok_and(|d| d.eq_ignore_ascii_case("cpu")) {
                return Err("HOUNSFIELD_DEVICE=cpu".into());
            }
            Gpu::open(0).map_err(|e| e.to_string())
        });
        opened.clone().map_err(Error::NoDevice)
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Free and total device memory in bytes.
    pub fn memory(&self) -> Result<(usize, usize)> {
        Ok(self.ctx.mem_get_info()?)
    }

    /// A kernel function, its source compiled and loaded on first use.
    pub(crate) fn function(&self, kernel: &Kernel, name: &str) -> Result<CudaFunction> {
        let module = {
            let mut modules =
                self.modules.lock().map_err(|_| Error::Driver("module cache poisoned".into()))?;
            match modules.get(kernel.name) {
                Some(m) => Arc::clone(m),
                None => {
                    let m = self.ctx.load_module(compile(kernel)?)?;
                    modules.insert(kernel.name, Arc::clone(&m));
                    m
                }
            }
        };
        Ok(module.load_function(name)?)
    }

    /// The stream every operation runs on.
    pub(crate) fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// A copy of `data` on the device.
    pub(crate) fn upload<T: DeviceRepr>(&self, data: &[T]) -> Result<CudaSlice<T>> {
        Ok(self.stream.clone_htod(data)?)
    }

    /// The device buffer back on the host (waits for the stream).
    pub(crate) fn download<T: DeviceRepr>(&self, data: &CudaSlice<T>) -> Result<Vec<T>> {
        Ok(self.stream.clone_dtoh(data)?)
    }
}

/// Converts a size to the `int` kernels take, or explains why it cannot be.
pub(crate) fn int(v: usize, what: &str) -> Result<i32> {
    i32::try_from(v)
        .map_err(|_| Error::Invalid(format!("{what} = {v} exceeds the kernels' int range")))
}

thread_local! {
    static LAST_KERNEL_SECONDS: std::cell::Cell<f64> = const { std::cell::Cell::new(f64::NAN) };
}

/// Seconds the kernels of the last GPU operation on this thread took (each launch timed between
/// stream synchronisations, transfers excluded): what benchmarks report as kernel time.
pub fn last_kernel_seconds() -> f64 {
    LAST_KERNEL_SECONDS.with(std::cell::Cell::get)
}

impl Gpu {
    /// Starts timing a new operation (see [`last_kernel_seconds`]).
    pub(crate) fn start_timing(&self) {
        LAST_KERNEL_SECONDS.with(|c| c.set(0.0));
    }

    /// Runs `launch` between two stream synchronisations and adds its time to the operation's.
    pub(crate) fn timed(&self, launch: impl FnOnce() -> Result<()>) -> Result<()> {
        self.stream.synchronize()?;
        let start = std::time::Instant::now();
        launch()?;
        self.stream.synchronize()?;
        let seconds = start.elapsed().as_secs_f64();
        LAST_KERNEL_SECONDS.with(|c| c.set(c.get() + seconds));
        Ok(())
    }
}
