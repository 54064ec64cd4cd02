#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
//! The GPU paths against the CPU implementation (issue 9's bar: relative error < 1e-4 in f32 on
//! random inputs; the GPU pair's adjoint test < 1e-5; the same result on every run). These need a
//! CUDA GPU: they are ignored by default and run with `--ignored` on a GPU machine
//! (`scripts/gpu-tests.sh`).

#[cfg(feature = "cuda")]
mod with_cuda {
    use hounsfield_core::LinearOperator;
    use hounsfield_core::operator::check_adjoint;
    use hounsfield_core::rng::SplitMix64;
    use hounsfield_ct::gpu::GpuProjector;
    use hounsfield_ct::{
        Detector, Device, FbpOptions, ImageGrid, Phantom, Projector, ScanGeometry, fbp,
        uniform_angles,
    };
    use ndarray::{ArrayD, IxDyn};

    fn random(shape: &[usize], seed: u64) -> ArrayD<f32> {
        let mut rng = SplitMix64::new(seed);
        let n = shape.iter().product();
        ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|_| rng.uniform(0.0, 1.0) as f32).collect())
            .unwrap()
    }

    /// Largest difference relative to the largest magnitude of the reference.
    fn relative(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f64 {
        let scale = b.iter().map(|v| f64::from(v.abs())).fold(0.0, f64::max).max(1e-30);
        a.iter().zip(b).map(|(x, y)| f64::from(x - y).abs()).fold(0.0, f64::max) / scale
    }

    fn cases() -> Vec<(&'static str, ImageGrid, ScanGeometry)> {
        let full = std::f64::consts::TAU;
        let g2 = ImageGrid::new_2d(96, 80, 1.0).unwrap();
        let g3 = ImageGrid::new_3d([40, 48, 56], [1.0, 1.0, 1.2]).unwrap();
        let panel = Detector {
            cols: 80,
            rows: 64,
            col_spacing: 1.5,
            row_spacing: 1.5,
            col_offset: 0.0,
            row_offset: 0.0,
        };
        vec![
            (
                "parallel 2D",
                g2.clone(),
                ScanGeometry::parallel_2d(uniform_angles(90, 0.0, std::f64::consts::PI), 130, 1.0)
                    .unwrap(),
            ),
            (
                "fan 2D flat",
                g2.clone(),
                ScanGeometry::fan_2d(
                    uniform_angles(120, 0.0, full),
                    Detector::line(150, 1.5),
                    300.0,
                    500.0,
                    false,
                )
                .unwrap(),
            ),
            (
                "fan 2D arc",
                g2,
                ScanGeometry::fan_2d(
                    uniform_angles(120, 0.0, full),
                    Detector::line(150, 0.004),
                    300.0,
                    500.0,
                    true,
                )
                .unwrap(),
            ),
            (
                "cone",
                g3,
                ScanGeometry::cone(uniform_angles(60, 0.0, full), panel, 200.0, 400.0).unwrap(),
            ),
        ]
    }

    #[test]
    #[ignore = "needs a CUDA GPU (scripts/gpu-tests.sh)"]
    fn gpu_projector_pair_matches_the_cpu_and_is_adjoint_and_repeatable() {
        for (name, grid, geometry) in cases() {
            let cpu = Projector::new(grid.clone(), geometry.clone()).unwrap();
            let gpu = GpuProjector::new(grid, geometry, 0).unwrap();
            let x = random(&cpu.domain_shape(), 1);
            let y = random(&cpu.range_shape(), 2);
            let (ax_cpu, ax_gpu) = (cpu.apply(x.view()).unwrap(), gpu.apply(x.view()).unwrap());
            let e = relative(&ax_gpu, &ax_cpu);
            assert!(e < 1e-4, "{name}: forward relative error {e:e}");
            let (aty_cpu, aty_gpu) =
                (cpu.adjoint(y.view()).unwrap(), gpu.adjoint(y.view()).unwrap());
            let e = relative(&aty_gpu, &aty_cpu);
            assert!(e < 1e-4, "{name}: adjoint relative error {e:e}");
            let report = check_adjoint(&gpu, 3).unwrap();
            assert!(report.relative_mismatch < 1e-5, "{name}: adjoint mismatch {report:?}");
            assert_eq!(
                gpu.adjoint(y.view()).unwrap(),
                aty_gpu,
                "{name}: adjoint differs between runs"
            );
            assert_eq!(
                gpu.apply(x.view()).unwrap(),
                ax_gpu,
                "{name}: forward differs between runs"
            );
        }
    }

    #[test]
    #[ignore = "needs a CUDA GPU (scripts/gpu-tests.sh)"]
    fn gpu_fbp_and_fdk_match_the_cpu() {
        for (name, grid, geometry) in cases() {
            let radius = 0.4 * grid.shape[2] as f64;
            let phantom = if geometry.dims() == 2 {
                Phantom::shepp_logan_2d(radius)
            } else {
                Phantom::shepp_logan_3d(radius)
            };
            let p = phantom.project(&geometry, 1).unwrap();
            let cpu = fbp(&geometry, &grid, p.view(), &FbpOptions::default()).unwrap();
            let opts = FbpOptions { device: Device::Cuda(0), ..Default::default() };
            let gpu = fbp(&geometry, &grid, p.view(), &opts).unwrap();
            let e = relative(&gpu, &cpu);
            assert!(e < 1e-4, "{name}: FBP relative error {e:e}");
            assert_eq!(
                fbp(&geometry, &grid, p.view(), &opts).unwrap(),
                gpu,
                "{name}: differs between runs"
            );
        }
    }

    #[test]
    fn without_a_gpu_the_device_option_is_an_error_value() {
        // Runs everywhere: on a machine without a GPU both paths return errors naming the device.
        let (_, grid, geometry) = cases().remove(0);
        match GpuProjector::new(grid.clone(), geometry.clone(), 9_999) {
            Ok(_) => panic!("no machine has device 9999"),
            Err(e) => assert!(e.to_string().contains("device"), "{e}"),
        }
        let p = random(&geometry.projection_shape(), 4);
        let opts = FbpOptions { device: Device::Cuda(9_999), ..Default::default() };
        assert!(fbp(&geometry, &grid, p.view(), &opts).is_err());
        assert_eq!(Device::from_name("cuda:2").unwrap(), Device::Cuda(2));
        assert!(Device::from_name("tpu").is_err());
    }
}
