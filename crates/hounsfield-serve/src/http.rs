//! The HTTP side: the web page, a JSON API over the store and the jobs, slice pictures, job
//! downloads and STOW-RS uploads (axum on a small tokio runtime; the heavy work runs on blocking
//! threads or the job worker).
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the page |
//! | `GET /api/status` | AE title, ports, counters |
//! | `GET /api/studies` | studies and their series |
//! | `GET /api/series/{uid}` | a series: instances, grid, slices per plane (or why it is not one volume) |
//! | `GET /api/series/{uid}/slice.png?plane=&index=&window=&overlay=` | a slice, windowed, with a job's labels over it |
//! | `GET /api/series/{uid}/thumbnail.png` | the middle slice in the acquisition plane, at most 96 pixels wide (cached on disk) |
//! | `POST /api/series/{uid}/jobs` | queue a job (`{"task": "convert" \| "brain-mask" \| "surface" \| "tissues", ...}`) |
//! | `GET /api/jobs`, `GET /api/jobs/{id}` | jobs and their progress |
//! | `DELETE /api/jobs/{id}` | cancel a job (a running one stops at its next stage) |
//! | `GET /api/jobs/{id}/files/{name}` | a job's output, as a download |
//! | `POST /dicomweb/studies[/{study}]` | STOW-RS: `multipart/related; type="application/dicom"` parts stored like C-STORE; the PS3.18 response (ReferencedSOPSequence, FailedSOPSequence with reasons) and a `Warning` header per failure |
//!
//! With a token configured every request under /api and /dicomweb needs `Authorization: Bearer
//! TOKEN` or `?token=TOKEN` (the page and its script hold no data and are served to anyone).

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hounsfield_core::{Volume, WindowPreset};
use hounsfield_render::{Overlay, Plane, Window, slice_image};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::jobs::{JobRequest, Jobs, window_for};
use crate::scp::Stats;
use crate::store::{Outcome, Store};

const PAGE: &str = include_str!("../web/index.html");
const VIEWER: &str = include_str!("../web/viewer.js");

/// How the HTTP server runs.
#[derive(Clone, Debug, Default)]
pub struct HttpOptions {
    /// Required on every request when set.
    pub token: Option<String>,
    /// The largest request body (STOW-RS uploads), bytes.
    pub max_upload_bytes: usize,
    /// The DICOM receiver's AE title and address, shown on the page.
    pub dicom: Option<(String, std::net::SocketAddr)>,
}

/// A series as displayed: (series UID, instances when read, the volume on the LPS grid,
/// modality).
type DisplayVolume = (String, usize, Arc<Volume<f32>>, String);

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    store: Arc<Store>,
    jobs: Arc<Jobs>,
    stats: Option<Arc<Stats>>,
    options: HttpOptions,
    /// The last volumes shown, reoriented to LPS for display: (series, instances, volume,
    /// modality).
    views: Mutex<Vec<DisplayVolume>>,
    /// Label volumes of jobs shown as overlays, on the same display grid.
    overlays: Mutex<Vec<(u64, Arc<Volume<u8>>)>>,
}

impl AppState {
    /// The state over a store, its jobs and (when a receiver runs beside) its counters.
    pub fn new(
        store: Arc<Store>,
        jobs: Arc<Jobs>,
        stats: Option<Arc<Stats>>,
        options: HttpOptions,
    ) -> Arc<Self> {
        Arc::new(AppState {
            store,
            jobs,
            stats,
            options,
            views: Mutex::new(Vec::new()),
            overlays: Mutex::new(Vec::new()),
        })
    }

    /// The series as displayed: read with hounsfield-io, reoriented to LPS (radiological
    /// view); the two most recent are kept.
    fn view(&self, uid: &str) -> Result<(Arc<Volume<f32>>, String)> {
        let records: Vec<_> =
            self.store.instances().into_iter().filter(|r| r.series_uid == uid).collect();
        let Some(first) = records.first() else {
            return Err(Error::instance(uid, "no such series in the store"));
        };
        let count = records.len();
        {
            let views = self.views.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(v) = views.iter().find(|v| v.0 == uid && v.1 == count) {
                return Ok((v.2.clone(), v.3.clone()));
            }
        }
        let dir =
            self.store.series_dir(uid).ok_or_else(|| Error::instance(uid, "no such series"))?;
        let read = crate::store::read_series(&dir, uid)?;
        let volume =
            read.volumes.first().ok_or_else(|| Error::instance(uid, "no volume"))?.to_f32();
        let volume = hounsfield_filter::reshape::reorient(&volume, "LPS")
            .map_err(|e| Error::instance(uid, e.to_string()))?;
        let volume = Arc::new(volume);
        let mut views = self.views.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        views.retain(|v| v.0 != uid);
        views.insert(0, (uid.to_string(), count, volume.clone(), first.modality.clone()));
        views.truncate(2);
        Ok((volume, first.modality.clone()))
    }

    /// A job's label output on the display grid.
    fn overlay(&self, job: u64) -> Result<Arc<Volume<u8>>> {
        {
            let overlays = self.overlays.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(o) = overlays.iter().find(|o| o.0 == job) {
                return Ok(o.1.clone());
            }
        }
        let j = self
            .jobs
            .get(job)
            .ok_or_else(|| Error::instance(format!("job {job}"), "no such job"))?;
        let name = j
            .outputs
            .iter()
            .find(|o| o.kind == "labels")
            .map(|o| o.name.clone())
            .ok_or_else(|| Error::instance(format!("job {job}"), "it wrote no labels"))?;
        let path =
            self.jobs.output_path(job, &name).ok_or_else(|| Error::instance(&name, "missing"))?;
        let labels =
            hounsfield_io::open_volume(&path).map_err(|e| Error::instance(&name, e.to_string()))?;
        let labels = labels.map(|v| v.clamp(0.0, 255.0) as u8);
        let labels = hounsfield_filter::reshape::reorient(&labels, "LPS")
            .map_err(|e| Error::instance(&name, e.to_string()))?;
        let labels = Arc::new(labels);
        let mut overlays = self.overlays.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        overlays.insert(0, (job, labels.clone()));
        overlays.truncate(4);
        Ok(labels)
    }
}

/// The routes, with the token check and the upload limit.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.options.max_upload_bytes.max(1 << 20);
    Router::new()
        .route("/", get(page))
        .route("/viewer.js", get(viewer))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/api/status", get(status))
        .route("/api/studies", get(studies))
        .route("/api/series/{uid}", get(series))
        .route("/api/series/{uid}/slice.png", get(slice))
        .route("/api/series/{uid}/thumbnail.png", get(thumbnail))
        .route("/api/series/{uid}/jobs", post(submit))
        .route("/api/jobs", get(jobs))
        .route("/api/jobs/{id}", get(job).delete(cancel))
        .route("/api/jobs/{id}/files/{name}", get(job_file))
        .route("/dicomweb/studies", post(stow))
        .route("/dicomweb/studies/{study}", post(stow_study))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until the process ends (a two-thread tokio runtime).
pub fn serve(listener: TcpListener, state: Arc<AppState>) -> Result<()> {
    listener.set_nonblocking(true).map_err(|e| Error::Config(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Error::Config(format!("cannot start the HTTP runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| Error::Config(e.to_string()))?;
        axum::serve(listener, router(state))
            .await
            .map_err(|e| Error::Config(format!("HTTP server: {e}")))
    })
}

async fn authorize(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    // The page and its script hold no data; everything under /api and /dicomweb does.
    let path = request.uri().path();
    let open = path == "/" || path == "/viewer.js" || path == "/favicon.ico";
    let Some(token) = state.options.token.as_deref().filter(|_| !open) else {
        return next.run(request).await;
    };
    // The scheme is case-insensitive (RFC 7235); the token is not.
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let query = request
        .uri()
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("token="));
    if bearer == Some(token) || query == Some(token) {
        next.run(request).await
    } else {
        problem(
            StatusCode::UNAUTHORIZED,
            "a token is required: open the address `hounsfield serve` printed",
        )
    }
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

fn error_response(e: &Error) -> Response {
    let status = match e {
        Error::Instance { reason, .. } if reason.starts_with("no such") => StatusCode::NOT_FOUND,
        Error::Instance { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    problem(status, &e.to_string())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Config(format!("worker failed: {e}")))?
}

async fn page() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response()
}

async fn viewer() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], VIEWER).into_response()
}

async fn status(State(state): State<Arc<AppState>>) -> Response {
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let counters = state.stats.as_ref().map(|s| {
        json!({
            "associations": load(&s.associations), "rejected": load(&s.rejected),
            "stored": load(&s.stored), "duplicates": load(&s.duplicates),
            "conflicts": load(&s.conflicts), "refused": load(&s.refused), "broken": load(&s.broken),
        })
    });
    let dicom = state
        .options
        .dicom
        .as_ref()
        .map(|(ae, addr)| json!({ "ae": ae, "address": addr.to_string() }));
    axum::Json(json!({
        "dicom": dicom,
        "instances": state.store.instances().len(),
        "conflicts": state.store.conflicts().len(),
        "received": counters,
    }))
    .into_response()
}

async fn studies(State(state): State<Arc<AppState>>) -> Response {
    axum::Json(json!({ "studies": state.store.studies(), "conflicts": state.store.conflicts() }))
        .into_response()
}

async fn series(State(state): State<Arc<AppState>>, Path(uid): Path<String>) -> Response {
    let summary =
        state.store.studies().into_iter().flat_map(|s| s.series).find(|s| s.series_uid == uid);
    let Some(summary) = summary else {
        return problem(StatusCode::NOT_FOUND, &format!("{uid}: no such series in the store"));
    };
    let st = state.clone();
    let u = uid.clone();
    let grid = blocking(move || {
        let geometry = st.store.series_geometry(&u)?;
        let (view, modality) = st.view(&u)?;
        let plane = format!("{:?}", acquisition_plane(&view)).to_lowercase();
        Ok((geometry, view.size_xyz(), modality, plane))
    })
    .await;
    let instances: Vec<_> =
        state.store.instances().into_iter().filter(|r| r.series_uid == uid).collect();
    let body = match grid {
        Ok((geometry, [nx, ny, nz], modality, plane)) => json!({
            "series": summary, "geometry": geometry, "modality": modality,
            "slices": { "axial": nz, "coronal": ny, "sagittal": nx },
            "plane": plane,
            "windows": WindowPreset::ALL.iter().map(|p| p.name()).collect::<Vec<_>>(),
            "instances": instances,
        }),
        Err(e) => {
            json!({ "series": summary, "volume_error": e.to_string(), "instances": instances })
        }
    };
    axum::Json(body).into_response()
}

#[derive(Debug, Deserialize)]
struct SliceQuery {
    plane: Option<String>,
    index: Option<usize>,
    window: Option<String>,
    overlay: Option<u64>,
    opacity: Option<f64>,
}

async fn slice(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    Query(q): Query<SliceQuery>,
) -> Response {
    let png = blocking(move || {
        let (volume, modality) = state.view(&uid)?;
        let plane = Plane::from_name(q.plane.as_deref().unwrap_or("axial"))
            .map_err(|e| Error::instance("plane", e.to_string()))?;
        let n = volume.size_xyz()[plane.normal_axis()];
        let index = q.index.unwrap_or(n / 2);
        let window = match q.window.as_deref() {
            None | Some("auto") => window_for(&volume, &modality)?,
            Some(name) => {
                Window::preset(name).map_err(|e| Error::instance("window", e.to_string()))?
            }
        };
        let labels = q.overlay.map(|job| state.overlay(job)).transpose()?;
        let overlay = labels
            .as_deref()
            .map(|l| Overlay { labels: l, opacity: q.opacity.unwrap_or(0.35).clamp(0.0, 1.0) });
        let image = slice_image(&volume, plane, index, &window, overlay)
            .map_err(|e| Error::instance("slice", e.to_string()))?;
        image.encode_png().map_err(|e| Error::instance("slice", e.to_string()))
    })
    .await;
    match png {
        Ok(png) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        Err(e) => error_response(&e),
    }
}

/// The middle axial slice, box-filtered to at most 96 pixels across; kept in the store's
/// `thumbnails/` per series and instance count, so the list does not read series again.
async fn thumbnail(State(state): State<Arc<AppState>>, Path(uid): Path<String>) -> Response {
    let png = blocking(move || {
        let count = state.store.instances().iter().filter(|r| r.series_uid == uid).count();
        if count == 0 || !crate::uid::is_valid_uid(&uid) {
            return Err(Error::instance(&uid, "no such series in the store"));
        }
        let dir = state.store.root().join("thumbnails");
        let cached = dir.join(format!("{uid}-{count}.png"));
        if let Ok(png) = std::fs::read(&cached) {
            return Ok(png);
        }
        // The series as one volume, or else its middle image alone (a series of several
        // volumes, or of odd images, still gets a picture).
        let (volume, modality) = match state.view(&uid) {
            Ok(v) => v,
            Err(e) => middle_image(&state.store, &uid).ok_or(e)?,
        };
        let plane = acquisition_plane(&volume);
        let n = volume.size_xyz()[plane.normal_axis()];
        let window = window_for(&volume, &modality)?;
        let image = slice_image(&volume, plane, n / 2, &window, None)
            .map_err(|e| Error::instance("thumbnail", e.to_string()))?;
        let png = shrink(&image, 96)
            .encode_png()
            .map_err(|e| Error::instance("thumbnail", e.to_string()))?;
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        crate::jobs::write_atomic(&cached, &png)?;
        Ok(png)
    })
    .await;
    match png {
        // The page asks with the instance count in the query, so a cached copy stays right.
        Ok(png) => {
            ([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "max-age=3600")], png)
                .into_response()
        }
        Err(e) => error_response(&e),
    }
}

/// The plane the series was most likely acquired in: the one across the axis with the fewest
/// samples (axial on ties), so that a thin sagittal stack shows a sagittal picture.
fn acquisition_plane(volume: &Volume<f32>) -> Plane {
    let n = volume.size_xyz();
    [Plane::Axial, Plane::Coronal, Plane::Sagittal]
        .into_iter()
        .fold((Plane::Axial, usize::MAX), |best, p| {
            let k = n[p.normal_axis()];
            if k < best.1 { (p, k) } else { best }
        })
        .0
}

/// The middle instance of a series (by InstanceNumber) read alone, on the LPS display grid.
fn middle_image(store: &Store, uid: &str) -> Option<(Arc<Volume<f32>>, String)> {
    let mut records: Vec<_> =
        store.instances().into_iter().filter(|r| r.series_uid == uid && r.rows.is_some()).collect();
    records.sort_by_key(|r| r.instance_number);
    let r = records.get(records.len() / 2)?;
    let read = hounsfield_io::dicom::read_dicom_file(store.root().join(&r.path)).ok()?;
    let volume = read.volumes.first()?.to_f32();
    let volume = hounsfield_filter::reshape::reorient(&volume, "LPS").ok()?;
    Some((Arc::new(volume), r.modality.clone()))
}

/// `image` reduced by an integer factor (box filter) so that neither side exceeds `max`.
fn shrink(image: &hounsfield_render::RgbImage, max: usize) -> hounsfield_render::RgbImage {
    let f = image.width.max(image.height).div_ceil(max).max(1);
    let (w, h) = (image.width.div_ceil(f), image.height.div_ceil(f));
    let mut out = hounsfield_render::RgbImage::new(w, h, [0, 0, 0]);
    for y in 0..h {
        for x in 0..w {
            let mut sum = [0u32; 3];
            let mut n = 0u32;
            for yy in y * f..((y + 1) * f).min(image.height) {
                for xx in x * f..((x + 1) * f).min(image.width) {
                    let p = image.get(xx, yy);
                    for c in 0..3 {
                        sum[c] += u32::from(p[c]);
                    }
                    n += 1;
                }
            }
            out.set(x, y, sum.map(|v| u8::try_from(v / n.max(1)).unwrap_or(u8::MAX)));
        }
    }
    out
}

async fn submit(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    body: Bytes,
) -> Response {
    let request: JobRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return problem(StatusCode::BAD_REQUEST, &format!("job request: {e}")),
    };
    match state.jobs.submit(&uid, request) {
        Ok(job) => (StatusCode::ACCEPTED, axum::Json(job)).into_response(),
        Err(e) => error_response(&e),
    }
}

async fn jobs(State(state): State<Arc<AppState>>) -> Response {
    axum::Json(json!({ "jobs": state.jobs.list() })).into_response()
}

async fn job(State(state): State<Arc<AppState>>, Path(id): Path<u64>) -> Response {
    match state.jobs.get(id) {
        Some(job) => axum::Json(job).into_response(),
        None => problem(StatusCode::NOT_FOUND, &format!("job {id}: no such job")),
    }
}

async fn cancel(State(state): State<Arc<AppState>>, Path(id): Path<u64>) -> Response {
    match state.jobs.cancel(id) {
        Some(job) => axum::Json(job).into_response(),
        None => problem(StatusCode::NOT_FOUND, &format!("job {id}: no such job")),
    }
}

async fn job_file(
    State(state): State<Arc<AppState>>,
    Path((id, name)): Path<(u64, String)>,
) -> Response {
    // Only names a job listed as its outputs are served: no path from a request reaches the disk.
    let Some(path) = state.jobs.output_path(id, &name) else {
        return problem(StatusCode::NOT_FOUND, &format!("job {id} has no output {name:?}"));
    };
    let read = tokio::task::spawn_blocking(move || {
        std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
    })
    .await;
    let bytes = match read.unwrap_or_else(|e| Err(e.to_string())) {
        Ok(b) => b,
        Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    let kind = match name.rsplit('.').next() {
        Some("png") => "image/png",
        Some("stl") => "model/stl",
        Some("ply") => "application/octet-stream",
        Some("glb") => "model/gltf-binary",
        Some("gz") => "application/gzip",
        _ => "application/octet-stream",
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"job{id}-{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    (headers, Body::from(bytes)).into_response()
}

/// STOW-RS: each `application/dicom` part of a `multipart/related` body (or a single
/// `application/dicom` body) is stored as a C-STORE would store it.
async fn stow(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    store_parts(state, headers, body, None).await
}

/// STOW-RS into one study: a part of another study fails (0xA900) and is not stored.
async fn stow_study(
    State(state): State<Arc<AppState>>,
    Path(study): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    store_parts(state, headers, body, Some(study)).await
}

/// The PS3.18 10.5.3 answer: 200 when every part was stored, 202 when some failed, 409 when
/// none was; a DICOM JSON data set with ReferencedSOPSequence (0008,1199) and
/// FailedSOPSequence (0008,1198, FailureReason 0008,1197), and a `Warning: 299` header with the
/// reason of each failure.
async fn store_parts(
    state: Arc<AppState>,
    headers: HeaderMap,
    body: Bytes,
    study: Option<String>,
) -> Response {
    let content_type =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let result = blocking(move || {
        let parts = crate::stow::parts(&content_type, &body)?;
        let mut stored = Vec::new();
        let mut failed = Vec::new();
        for (k, part) in parts.iter().enumerate() {
            let name = format!("part {}", k + 1);
            let uids = crate::stow::uids_of(part);
            let other_study = study.as_ref().zip(uids.as_ref().map(|u| &u.study)).filter(|(w, f)| w != f);
            if let Some((want, found)) = other_study {
                failed.push((uids.clone(), 0xA900, format!("{name}: of study {found}, not {want}")));
                continue;
            }
            match state.store.store_file_bytes(&name, part, "STOW-RS", u64::MAX) {
                Ok(Outcome::Stored(r)) | Ok(Outcome::Duplicate(r)) => stored.push(r),
                Ok(Outcome::Conflict { kept, .. }) => failed.push((
                    uids,
                    crate::dimse::CONFLICT,
                    format!("{name}: SOP Instance UID {} stored before with other bytes; this one kept apart as {}", kept.sop_instance_uid, kept.path),
                )),
                Err(e) => {
                    // As the DICOM route answers: a readable data set that is refused 0xA900,
                    // a part that is not DICOM 0xC000, a store that cannot be written 0xA700.
                    let code = match (&e, &uids) {
                        (Error::Io { .. }, _) => 0xA700,
                        (_, Some(_)) => 0xA900,
                        (_, None) => 0xC000,
                    };
                    failed.push((uids, code, e.to_string()))
                }
            }
        }
        Ok((stored, failed))
    })
    .await;
    let (stored, failed) = match result {
        Ok(r) => r,
        Err(e) => return problem(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let status = match (stored.is_empty(), failed.is_empty()) {
        (_, true) => StatusCode::OK,
        (false, false) => StatusCode::ACCEPTED,
        (true, false) => StatusCode::CONFLICT,
    };
    let ui = |v: &str| json!({ "vr": "UI", "Value": [v] });
    let referenced: Vec<_> = stored
        .iter()
        .map(|r| json!({ "00081150": ui(&r.sop_class_uid), "00081155": ui(&r.sop_instance_uid) }))
        .collect();
    let failures: Vec<_> = failed
        .iter()
        .map(|(uids, reason, _)| {
            let mut item = serde_json::Map::new();
            if let Some(u) = uids {
                item.insert("00081150".into(), ui(&u.sop_class));
                item.insert("00081155".into(), ui(&u.sop_instance));
            }
            item.insert("00081197".into(), json!({ "vr": "US", "Value": [reason] }));
            Value::Object(item)
        })
        .collect();
    let mut body = serde_json::Map::new();
    if !failures.is_empty() {
        body.insert("00081198".into(), json!({ "vr": "SQ", "Value": failures }));
    }
    if !referenced.is_empty() {
        body.insert("00081199".into(), json!({ "vr": "SQ", "Value": referenced }));
    }
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/dicom+json")],
        Value::Object(body).to_string(),
    )
        .into_response();
    for (_, _, why) in &failed {
        let text: String = why.chars().filter(|c| !c.is_control() && *c != '"').take(300).collect();
        if let Ok(v) = HeaderValue::from_str(&format!("299 hounsfield \"{text}\"")) {
            response.headers_mut().append(header::WARNING, v);
        }
    }
    response
}
