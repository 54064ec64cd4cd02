//! `hounsfield`: medical 3D imaging from the shell.
//!
//! Exit codes: 0 success, 1 an error the user can act on (one line on standard error), 2 a usage
//! error (clap's message). The command line itself is `args.rs`; this file dispatches each
//! command to the library half (`hounsfield_cli`) and prints its report as text or JSON.
#![allow(clippy::print_stdout)]

mod args;

use std::fmt::Display;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use args::{Cli, Command, CtOp, SegmentOp, ShapeOp, SurfaceOp};
use clap::Parser;

use hounsfield_cli::{
    anonymize, ct, ct_learn, demo, demo_ct, demo_report, demo_segment, filter, filter_chunked,
    mesh, progress, render, segment, serve, shape_data, shape_learn, surface, volume_info,
};
use hounsfield_io::dicom::SeriesOptions;
use hounsfield_io::nifti::{self, NiftiImage};
use hounsfield_mesh::LabelOptions;
use hounsfield_nn::train::Event;
use serde::Serialize;

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let msg = info.to_string().replace('\n', " ");
        eprintln!("hounsfield: internal error (please report): {msg}");
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hounsfield: error: {}", one_line(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes on one line, skipping causes the message already quotes (library
/// errors include their source in their own message).
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line.replace('\n', " ")
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Info { input, zarr } => {
            let zarr = zarr.io()?;
            if zarr.pyramid > 0 || zarr.downsample.is_some() {
                bail!("--pyramid and --downsample apply to an output store; info writes none");
            }
            zarr.check(&input, &input)?;
            let options = zarr.open_options(hounsfield_io::OpenOptions::default());
            let info =
                progress::with_spinner(&format!("reading {}", input.display()), !cli.quiet, || {
                    volume_info::info(&input, &options)
                });
            print(&info?, cli.json)
        }
        Command::Convert {
            input,
            output,
            series,
            drop_duplicates,
            keep_tilt,
            correct_tilt,
            resample_gaps,
            skip_unreadable,
            no_bids,
            zarr,
        } => {
            let zarr = zarr.io()?;
            zarr.check(&input, &output)?;
            let series_options = SeriesOptions::default()
                .with_drop_duplicates(drop_duplicates)
                .with_keep_tilt_shear(keep_tilt)
                .with_correct_tilt(correct_tilt)
                .with_resample_gaps(resample_gaps)
                .with_skip_unreadable(skip_unreadable);
            let options = volume_info::ConvertOptions {
                open: zarr.open_options(
                    hounsfield_io::OpenOptions::default()
                        .with_series(series)
                        .with_series_options(series_options),
                ),
                no_bids,
                zarr,
            };
            let done = progress::with_spinner(
                &format!("converting {}", input.display()),
                !cli.quiet,
                || volume_info::convert(&input, &output, &options),
            );
            print(&done?, cli.json)
        }
        Command::Anonymize { input, output, key } => {
            let done = progress::with_spinner(
                &format!("anonymizing {}", input.display()),
                !cli.quiet,
                || anonymize::anonymize(&input, &output, key.as_deref()),
            );
            print(&done?, cli.json)
        }
        Command::Serve {
            store,
            dicom_port,
            bind,
            ae,
            allow,
            max_associations,
            max_instance_mib,
            timeout,
            http_port,
            no_http,
            token,
            max_upload_mib,
            import,
        } => serve::run(&serve::ServeArgs {
            store,
            dicom: std::net::SocketAddr::new(bind, dicom_port),
            ae,
            allow,
            max_associations,
            max_instance_bytes: max_instance_mib << 20,
            timeout: std::time::Duration::from_secs(timeout.max(1)),
            http: (!no_http).then(|| std::net::SocketAddr::new(bind, http_port)),
            token,
            max_upload_bytes: max_upload_mib << 20,
            import,
            json: cli.json,
        }),
        Command::Filter { op, memory, zarr: zarr_args } => {
            let (input, output, op) = op.parts()?;
            let zarr_io = zarr_args.io()?;
            zarr_io.check(&input, &output)?;
            let zarr = hounsfield_cli::zarr_io::is_zarr;
            if zarr(&input) && zarr(&output) && filter_chunked::is_chunked(&op) {
                let bar = progress::bar(0, &format!("filtering {}", input.display()), !cli.quiet);
                let done = filter_chunked::run(
                    &input,
                    &output,
                    &op,
                    memory.unwrap_or(1 << 30),
                    &zarr_io,
                    &|done, total| {
                        bar.set_length(total as u64);
                        bar.set_position(done as u64);
                    },
                );
                bar.finish_and_clear();
                return print(&done?, cli.json);
            }
            if memory.is_some() {
                bail!(
                    "--memory applies to chunked runs: a .zarr input and output, and gaussian \
                     (not --recursive), median, box-mean, gradient-magnitude, unsharp, window, \
                     resample (not --bspline), threshold, morphology (not fill-holes) or label \
                     (not --largest)"
                );
            }
            let done = progress::with_spinner(
                &format!("filtering {}", input.display()),
                !cli.quiet,
                || filter::run(&input, &output, &op, &zarr_io),
            );
            print(&done?, cli.json)
        }
        Command::Ct { op } => run_ct(op, cli.quiet, cli.json),
        Command::Segment { op } => run_segment(op, cli.quiet, cli.json),
        Command::Surface { op } => run_surface(op, cli.quiet, cli.json),
        Command::Shape { op } => run_shape(op, cli.quiet, cli.json),
        Command::Mesh {
            input,
            output,
            level,
            labels,
            largest,
            smooth,
            sinc,
            decimate,
            open,
            zarr,
        } => {
            let zarr = zarr.io()?;
            if zarr.pyramid > 0 || zarr.downsample.is_some() {
                bail!("--pyramid and --downsample apply to an output store; mesh writes a mesh");
            }
            zarr.check(&input, &input)?;
            let message = format!("meshing {}", input.display());
            if labels {
                // Smoothing is the joint relaxation inside label_surfaces; clap refuses --sinc
                // and --decimate here, which would treat each label alone.
                let relaxation = smooth.unwrap_or(LabelOptions::default().relaxation_iterations);
                let done = progress::with_spinner(&message, !cli.quiet, || {
                    mesh::mesh_labels(&input, &output, largest, relaxation, &zarr)
                });
                return print(&done?, cli.json);
            }
            let post =
                mesh::PostProcess { largest, smooth: smooth.unwrap_or(0), sinc, decimate, open };
            let level = level.context("--level or --labels is required")?;
            let done = progress::with_spinner(&message, !cli.quiet, || {
                mesh::mesh(&input, &output, level, &post, &zarr)
            });
            print(&done?, cli.json)
        }
        Command::Render {
            input,
            output,
            mode,
            plane,
            slice,
            count,
            window,
            preset,
            azimuth,
            elevation,
            size,
            oblique,
            labels,
        } => {
            let options = render::RenderOptions {
                mode,
                plane: plane.into(),
                slice,
                count: usize::from(count),
                window,
                preset: preset.name().to_owned(),
                view: hounsfield_render::View { azimuth, elevation, size: usize::from(size) },
                oblique,
                labels,
            };
            let done = progress::with_spinner(
                &format!("rendering {}", input.display()),
                !cli.quiet,
                || render::render(&input, &output, &options),
            );
            print(&done?, cli.json)
        }
        Command::Demo { ct: Some(ct), labels, classes, out, .. } => {
            let inputs = demo_ct::CtDemoInputs { labels, classes };
            let done =
                progress::with_spinner("CT: structures, surfaces, pictures", !cli.quiet, || {
                    demo_ct::run_ct(&ct, &inputs, out.as_deref())
                });
            print(&done?, cli.json)
        }
        Command::Demo { mri: Some(mri), reference, out, .. } => {
            let done =
                progress::with_spinner("MRI: brain mask, surface, pictures", !cli.quiet, || {
                    demo::run_mri(&mri, reference.as_deref(), out.as_deref())
                });
            print(&done?, cli.json)
        }
        Command::Demo { size, seed, out, segment_steps, .. } => {
            run_demo(size, seed, segment_steps, out.as_deref(), cli.json, cli.quiet)
        }
    }
}

fn run_surface(op: SurfaceOp, quiet: bool, json: bool) -> Result<()> {
    match op {
        SurfaceOp::Views { input, dir, views, size, elevation, perspective, level, labels } => {
            let options =
                surface::ViewsOptions { views, size, elevation, perspective, level, labels };
            let done = progress::with_spinner(
                &format!("rendering views of {}", input.display()),
                !quiet,
                || surface::views(&input, &dir, &options),
            );
            print(&done?, json)
        }
        SurfaceOp::Fit {
            dir,
            output,
            hull_only,
            resolution,
            steps,
            ranking,
            depth,
            tuning,
            reference,
            no_reference,
            samples,
            keep_unseen,
        } => {
            let sdf = tuning.apply(hounsfield_surface::FitOptions {
                resolution,
                steps,
                ranking,
                ..Default::default()
            });
            let options = surface::FitOptions {
                hull_only,
                depth,
                sdf,
                reference,
                no_reference,
                samples,
                keep_unseen,
            };
            let bar = progress::bar(steps as u64, "fitting", !quiet);
            let done = surface::fit(&dir, &output, &options, |p| {
                let mut line = format!(
                    "{}^3, mask {:.4}, normal {:.4}",
                    p.resolution, p.mask_loss, p.normal_loss
                );
                if depth {
                    line += &format!(", depth {:.3} mm", p.depth_error);
                }
                if bar.is_hidden() {
                    if !quiet && p.step % 100 == 0 {
                        eprintln!("step {}/{}: {line}", p.step, p.total);
                    }
                } else {
                    bar.set_position(p.step as u64);
                    bar.set_message(line);
                }
            });
            bar.finish_and_clear();
            print(&done?, json)
        }
        SurfaceOp::Shape { name, output, voxel } => {
            print(&surface::shape(&name, output.as_deref(), voxel)?, json)
        }
        SurfaceOp::Compare { reference, test, samples } => {
            let done = progress::with_spinner("comparing surfaces", !quiet, || {
                surface::compare(&reference, &test, samples)
            });
            print(&done?, json)
        }
    }
}

fn run_shape(op: ShapeOp, quiet: bool, json: bool) -> Result<()> {
    match op {
        ShapeOp::Train { config, resume } => {
            let bar = progress::bar(1, "training", !quiet);
            let done = shape_learn::train(&config, resume, |event| match event {
                hounsfield_nn::shape::ShapeEvent::Step {
                    step,
                    total,
                    loss,
                    discriminator_loss,
                    ..
                } => {
                    bar.set_length(*total as u64);
                    bar.set_position(*step as u64);
                    bar.set_message(match discriminator_loss {
                        Some(d) => format!("loss {loss:.4}, discriminator {d:.3}"),
                        None => format!("loss {loss:.4}"),
                    });
                }
                hounsfield_nn::shape::ShapeEvent::Validation(v) => {
                    let ious: Vec<String> =
                        v.iou.iter().map(|(n, iou)| format!("{n} view(s) {iou:.3}")).collect();
                    let line = format!("step {}: validation IoU {}", v.step, ious.join(", "));
                    if bar.is_hidden() { eprintln!("{line}") } else { bar.println(line) }
                }
            });
            bar.finish_and_clear();
            print(&done?, json)
        }
        ShapeOp::Eval { model, test, test_held_out_class, retrieval_per_class } => {
            let options = shape_learn::EvalOptions {
                test: test as usize,
                test_held_out_class: test_held_out_class as usize,
                retrieval_per_class: retrieval_per_class.map(|r| r as usize),
            };
            let done = progress::with_spinner("shape eval", !quiet, || {
                shape_learn::evaluate(&model, &options)
            });
            print(&done?, json)
        }
        ShapeOp::Views { class, seed, dir, size, elevation, resolution } => {
            if elevation.is_nan() || elevation.abs() >= 90.0 {
                anyhow::bail!("--elevation {elevation}: must lie in (-90, 90) degrees");
            }
            let done = shape_learn::write_views(
                &class,
                seed,
                &dir,
                usize::from(size),
                elevation,
                usize::from(resolution),
            );
            print(&done?, json)
        }
        ShapeOp::Predict { model, mut files, cameras, mesh, reference } => {
            let Some(output) = files.pop() else { anyhow::bail!("no output file") };
            let done = shape_learn::predict(
                &model,
                &files,
                cameras.as_deref(),
                &output,
                mesh.as_deref(),
                reference.as_deref(),
            );
            print(&done?, json)
        }
        ShapeOp::Sample { model, dir, count, seed, interpolate } => {
            let done = hounsfield_cli::shape_generate::sample(
                &model,
                &dir,
                usize::from(count),
                seed,
                interpolate,
            );
            print(&done?, json)
        }
        ShapeOp::Baselines {
            train_per_class,
            test,
            test_held_out_class,
            views,
            size,
            resolution,
            elevation,
        } => {
            if elevation.is_nan() || elevation.abs() >= 90.0 {
                anyhow::bail!("--elevation {elevation}: must lie in (-90, 90) degrees");
            }
            let options = shape_data::BaselineOptions {
                train_per_class: train_per_class as usize,
                test: test as usize,
                test_held_out_class: test_held_out_class as usize,
                views: usize::from(views),
                size: usize::from(size),
                resolution: usize::from(resolution),
                elevation,
            };
            let done = progress::with_spinner("shape baselines", !quiet, || {
                shape_data::baselines(&options)
            });
            print(&done?, json)
        }
    }
}

fn run_segment(op: SegmentOp, quiet: bool, json: bool) -> Result<()> {
    match op {
        SegmentOp::Train { config, resume } => {
            let bar = progress::bar(1, "training", !quiet);
            let done = segment::train(&config, resume, |event| match event {
                Event::Step { step, total, loss, .. } => {
                    bar.set_length(*total as u64);
                    bar.set_position(*step as u64);
                    bar.set_message(format!("loss {loss:.4}"));
                }
                Event::Validation { step, dice } => {
                    let line = format!("step {step}: validation Dice {dice:.4?}");
                    if bar.is_hidden() { eprintln!("{line}") } else { bar.println(line) }
                }
            });
            bar.finish_and_clear();
            print(&done?, json)
        }
        SegmentOp::Plan { config } => print(&segment::show_plan(&config)?, json),
        SegmentOp::Predict {
            model,
            input,
            output,
            overlap,
            tta,
            probabilities,
            reference,
            label_threshold,
        } => {
            let options = segment::PredictOptions {
                overlap,
                tta,
                probabilities,
                reference: reference.map(|r| (r, label_threshold)),
            };
            let done =
                progress::with_spinner(&format!("segmenting {}", input.display()), !quiet, || {
                    segment::predict(&model, &input, &output, &options)
                });
            print(&done?, json)
        }
    }
}

fn run_ct(op: CtOp, quiet: bool, json: bool) -> Result<()> {
    let report = match op {
        CtOp::Astra { scan } => return print(&ct::astra_vectors(&scan)?, json),
        CtOp::Phantom { scan, output, random, head, seed } => {
            ct::phantom(&scan, &output, ct::PhantomChoice::new(random, head), seed)?
        }
        CtOp::Project { scan, output, image, random, head, scale, photons, seed } => {
            let phantom = ct::PhantomChoice::new(random, head);
            let options = ct::ProjectOptions { image, phantom, scale, photons, seed };
            let done = progress::with_spinner("projecting", !quiet, || {
                ct::project(&scan, &output, &options)
            });
            done?
        }
        CtOp::Reconstruct {
            projections,
            output,
            scan,
            method,
            iterations,
            lambda,
            filter,
            cutoff,
            scale,
            reference,
            model,
            device,
        } => {
            let window = filter.into();
            let options = ct::ReconstructOptions {
                scan,
                method,
                iterations,
                lambda,
                window,
                cutoff,
                reference,
                scale,
                model,
                device,
            };
            let steps = if method == ct::Method::Fbp { 1 } else { iterations as u64 };
            let bar = progress::bar(steps, &format!("{method:?}"), !quiet);
            let done = ct::reconstruct(&projections, &output, &options, &mut |p| {
                bar.set_position(p.iteration as u64);
                bar.set_message(format!("{method:?} residual {:.3e}", p.residual));
                hounsfield_ct::iterative::Control::Continue
            });
            bar.finish_and_clear();
            done?
        }
        CtOp::Learn { config } => {
            let bar = progress::bar(1, "training", !quiet);
            // Off a terminal (logs of long runs) a line every 100 steps instead of the bar.
            let log = !quiet && !std::io::IsTerminal::is_terminal(&std::io::stderr());
            let done = ct_learn::learn(&config, |s| {
                bar.set_length(s.total as u64);
                bar.set_position(s.step as u64);
                bar.set_message(format!("loss {:.3e}", s.loss.total));
                if log && s.step % 100 == 0 {
                    eprintln!("step {}/{}: loss {:.4e}", s.step, s.total, s.loss.total);
                }
            });
            bar.finish_and_clear();
            return print(&done?, json);
        }
    };
    print(&report, json)
}

/// Writes to standard output; a closed pipe (`hounsfield ... | head`) ends the output quietly
/// instead of panicking as `println!` would.
fn emit(text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Prints a report as pretty JSON or as its text form.
fn print<T: Serialize + Display>(report: &T, json: bool) -> Result<()> {
    if json {
        emit(&format!("{}\n", serde_json::to_string_pretty(report)?))
    } else {
        emit(&report.to_string())
    }
}

fn run_demo(
    size: usize,
    seed: u64,
    segment_steps: usize,
    out: Option<&Path>,
    json: bool,
    quiet: bool,
) -> Result<()> {
    let stages = demo::stages();
    let ct = progress::with_spinner("CT: phantom, projections, FDK, FISTA-TV", !quiet, || {
        demo::run_ct(size, seed, out)
    });
    let output = ct?;
    let filtered = progress::with_spinner("NIfTI round trip and filters", !quiet, || {
        demo::run_filter(&output, out)
    });
    let filtered = filtered?;
    if segment_steps == 0 {
        bail!("--segment-steps must be at least 1");
    }
    let bar = progress::bar(segment_steps as u64, "segment: U-Net training", !quiet);
    let segmented =
        demo_segment::run_segment(&output, seed, demo::SEGMENT_HEADS, segment_steps, |step, _| {
            bar.set_position(step as u64)
        });
    bar.finish_and_clear();
    let (segmented, labels) = segmented?;
    if let Some(dir) = out {
        nifti::write_nifti(dir.join("unet_labels.nii.gz"), &NiftiImage::from_volume(labels))?;
    }
    let mesh =
        progress::with_spinner("mesh: head surface", !quiet, || demo::run_mesh(&output, out));
    let (mesh, surface) = mesh?;
    let pictures = progress::with_spinner("render: montage, MIP, DVR, mesh", !quiet, || {
        demo::run_render(&output, &surface, out)
    });
    let report = demo_report::DemoReport {
        version: env!("CARGO_PKG_VERSION"),
        size,
        seed,
        stages,
        results: demo_report::DemoResults {
            ct: output.results,
            filter: filtered,
            segment: segmented,
            mesh,
            render: pictures?,
        },
        written: out.is_some(),
    };
    if let Some(dir) = out {
        report.write(dir)?;
    }
    if json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        emit(&report.to_string())?;
        if let Some(dir) = out {
            emit(&format!("Report: {} and report.json\n", dir.join("report.md").display()))?;
        }
    }
    Ok(())
}
