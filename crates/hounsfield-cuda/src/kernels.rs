//! The CUDA C sources and their compilation to PTX by NVRTC (at run time, so the crate builds
//! anywhere; CI compiles every source to PTX with the NVRTC library from PyPI, so a syntax error
//! fails CI on machines without a GPU).

use cudarc::nvrtc::{CompileOptions, Ptx, compile_ptx_with_opts};

use crate::{Error, Result};

/// One CUDA C source and the `extern "C"` kernels it defines.
#[derive(Debug)]
pub struct Kernel {
    /// Short name (also the module's cache key).
    pub name: &'static str,
    /// CUDA C source.
    pub source: &'static str,
    /// The kernels it must define.
    pub functions: &'static [&'static str],
}

/// Joseph projector and its matched (fixed-point, order-independent) adjoint.
pub const PROJECTOR: Kernel = Kernel {
    name: "projector",
    source: include_str!("kernels/projector.cu"),
    functions: &["project_forward", "project_adjoint", "fixed_to_float"],
};

/// Voxel-driven FBP/FDK back-projection.
pub const BACKPROJECT: Kernel = Kernel {
    name: "backproject",
    source: include_str!("kernels/backproject.cu"),
    functions: &["backproject"],
};

/// 3D convolution forward, data and weight gradients.
pub const CONV3D: Kernel = Kernel {
    name: "conv3d",
    source: include_str!("kernels/conv3d.cu"),
    functions: &[
        "conv3d_forward",
        "conv3d_backward_data",
        "conv3d_backward_weight_partial",
        "sum_chunks",
    ],
};

/// Every source of the crate.
pub const KERNELS: [&Kernel; 3] = [&PROJECTOR, &BACKPROJECT, &CONV3D];

/// The virtual architecture kernels are compiled for: Volta and newer (64-bit atomics, fast
/// doubles); the driver JIT-compiles the PTX for the GPU at hand (Hopper included).
pub const ARCH: &str = "compute_70";

/// Whether the NVRTC library can be loaded on this machine.
pub fn nvrtc_available() -> bool {
    crate::launch::nvrtc_present()
}

/// Compiles one source to PTX.
pub fn compile(kernel: &Kernel) -> Result<Ptx> {
    if !nvrtc_available() {
        return Err(Error::NoCompiler(
            "libnvrtc was not found (install the CUDA toolkit or the nvidia-cuda-nvrtc-cu12 wheel \
             and put its lib directory on LD_LIBRARY_PATH)"
                .into(),
        ));
    }
    let options = CompileOptions {
        arch: Some(ARCH),
        name: Some(format!("{}.cu", kernel.name)),
        options: vec!["--std=c++14".into()],
        ..Default::default()
    };
    compile_ptx_with_opts(kernel.source, options)
        .map_err(|e| Error::Compile { kernel: kernel.name, log: format!("{e:?}") })
}

/// Compiles every source and checks that each defines its kernels; returns the PTX sizes.
pub fn check_all() -> Result<Vec<(&'static str, usize)>> {
    KERNELS
        .iter()
        .map(|k| {
            let ptx = compile(k)?.to_src();
            if let Some(missing) =
                k.functions.iter().find(|f| !ptx.contains(&format!(".entry {f}(")))
            {
                return Err(Error::Compile {
                    kernel: k.name,
                    log: format!("no kernel {missing} in the PTX"),
                });
            }
            Ok((k.name, ptx.len()))
        })
        .collect()
}
