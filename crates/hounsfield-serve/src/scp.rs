//! The DICOM receiver: a C-ECHO and C-STORE service class provider on dicom-ul, one thread per
//! association (at most `max_associations` at once), each instance streamed into the
//! [`Store`]. A malformed PDU, an abort, a timeout or a refused instance ends that association
//! or that instance only; the listener keeps accepting.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use dicom_dictionary_std::uids;
use dicom_ul::association::Association;
use dicom_ul::association::server::{AccessControl, ServerAssociationOptions};
use dicom_ul::pdu::{
    AssociationRJ, AssociationRJResult, AssociationRJServiceProviderPresentationReason,
    AssociationRJServiceUserReason, AssociationRJSource, PDataValue, PDataValueType, Pdu,
    UserIdentity, write_pdu,
};
use serde::Serialize;

use crate::dimse::{self, Command};
use crate::error::{Error, Result};
use crate::sop::{STORAGE_SOP_CLASSES, TRANSFER_SYNTAXES};
use crate::store::{Incoming, Outcome, Store};

/// Where the receiver's events go.
pub type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;

/// How the receiver runs.
#[derive(Clone)]
pub struct ScpOptions {
    /// This receiver's AE title: associations calling another title are rejected.
    pub ae_title: String,
    /// Calling AE titles allowed to associate; empty allows any.
    pub allow: Vec<String>,
    /// Associations served at once; more are rejected (transient, local limit exceeded).
    pub max_associations: usize,
    /// The largest PDU this receiver accepts (bytes); larger ones abort the association.
    pub max_pdu_length: u32,
    /// The largest data set accepted per instance (bytes).
    pub max_instance_bytes: u64,
    /// How long a peer may stay silent before its association is dropped.
    pub timeout: Duration,
    /// Called for every event (association, instance stored, refusal); the CLI prints them.
    pub on_event: Option<EventSink>,
}

impl std::fmt::Debug for ScpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScpOptions")
            .field("ae_title", &self.ae_title)
            .field("allow", &self.allow)
            .field("max_associations", &self.max_associations)
            .field("max_pdu_length", &self.max_pdu_length)
            .field("max_instance_bytes", &self.max_instance_bytes)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Default for ScpOptions {
    fn default() -> Self {
        ScpOptions {
            ae_title: "HOUNSFIELD".into(),
            allow: Vec::new(),
            max_associations: 32,
            max_pdu_length: 65_536,
            max_instance_bytes: 4 << 30,
            timeout: Duration::from_secs(60),
            on_event: None,
        }
    }
}

impl ScpOptions {
    /// Sets the AE title.
    pub fn with_ae_title(mut self, ae: impl Into<String>) -> Self {
        self.ae_title = ae.into();
        self
    }

    /// Sets the calling AE titles allowed (empty: any).
    pub fn with_allow(mut self, allow: Vec<String>) -> Self {
        self.allow = allow;
        self
    }

    /// Sets the number of associations served at once.
    pub fn with_max_associations(mut self, n: usize) -> Self {
        self.max_associations = n.max(1);
        self
    }

    /// Sets the largest data set accepted per instance.
    pub fn with_max_instance_bytes(mut self, bytes: u64) -> Self {
        self.max_instance_bytes = bytes;
        self
    }

    /// Sets how long a silent peer is waited for.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the event callback.
    pub fn with_on_event(mut self, f: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Arc::new(f));
        self
    }
}

/// Something that happened on the receiver.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// An association was accepted.
    Associated {
        /// Calling AE title.
        calling_ae: String,
        /// Peer address.
        peer: String,
    },
    /// An association request was rejected.
    Rejected {
        /// Calling AE title, when the request was read.
        calling_ae: String,
        /// Peer address.
        peer: String,
        /// Why.
        reason: String,
    },
    /// An instance was stored (or recognised as a duplicate, or kept as a conflict).
    Instance {
        /// Calling AE title.
        calling_ae: String,
        /// SOP Instance UID.
        sop_instance_uid: String,
        /// `stored`, `duplicate` or `conflict`.
        outcome: String,
        /// Path in the store.
        path: String,
    },
    /// An instance was refused (its sender got a failure status).
    Refused {
        /// Calling AE title.
        calling_ae: String,
        /// SOP Instance UID as announced.
        sop_instance_uid: String,
        /// Why.
        reason: String,
    },
    /// An association ended.
    Ended {
        /// Calling AE title.
        calling_ae: String,
        /// `released`, `aborted by peer`, or the error that ended it.
        how: String,
    },
}

/// Counters since start.
#[derive(Debug, Default)]
pub struct Stats {
    /// Associations accepted.
    pub associations: AtomicU64,
    /// Association requests rejected (AE titles, limit).
    pub rejected: AtomicU64,
    /// Instances stored.
    pub stored: AtomicU64,
    /// Instances received again with the same bytes.
    pub duplicates: AtomicU64,
    /// Instances kept as conflicts.
    pub conflicts: AtomicU64,
    /// Instances refused.
    pub refused: AtomicU64,
    /// Associations that ended other than by release.
    pub broken: AtomicU64,
}

/// A bound DICOM receiver.
#[derive(Debug)]
pub struct DicomServer {
    listener: TcpListener,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    store: Arc<Store>,
    options: ScpOptions,
    stats: Arc<Stats>,
    active: AtomicUsize,
}

impl DicomServer {
    /// Binds the receiver to `addr` (e.g. `127.0.0.1:11112`; port 0 picks a free one).
    pub fn bind(
        addr: impl std::net::ToSocketAddrs,
        store: Arc<Store>,
        options: ScpOptions,
    ) -> Result<Self> {
        if options.ae_title.trim().is_empty() || options.ae_title.len() > 16 {
            return Err(Error::Config(format!(
                "AE title {:?} must have 1 to 16 characters",
                options.ae_title
            )));
        }
        let listener = TcpListener::bind(addr)
            .map_err(|e| Error::Config(format!("cannot listen for DICOM: {e}")))?;
        let shared = Arc::new(Shared {
            store,
            options,
            stats: Arc::new(Stats::default()),
            active: AtomicUsize::new(0),
        });
        Ok(DicomServer { listener, shared })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(|e| Error::Config(e.to_string()))
    }

    /// Its counters.
    pub fn stats(&self) -> Arc<Stats> {
        self.shared.stats.clone()
    }

    /// Accepts associations until the process ends, each on its own thread.
    pub fn serve(self) {
        for stream in self.listener.incoming() {
            let Ok(stream) = stream else { continue };
            let shared = self.shared.clone();
            if shared.active.fetch_add(1, Ordering::SeqCst) >= shared.options.max_associations {
                shared.active.fetch_sub(1, Ordering::SeqCst);
                shared.reject_busy(stream);
                continue;
            }
            let spawned = std::thread::Builder::new().name("dicom-association".into()).spawn({
                let shared = shared.clone();
                move || {
                    shared.associate(stream);
                    shared.active.fetch_sub(1, Ordering::SeqCst);
                }
            });
            if spawned.is_err() {
                shared.active.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// Serves on a background thread (tests, the HTTP server beside it).
    pub fn spawn(self) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || self.serve())
    }
}

/// Accepts callers named in the allow list (any when it is empty) that call this AE title.
struct AllowList {
    allow: Vec<String>,
}

impl AccessControl for AllowList {
    fn check_access(
        &self,
        this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> std::result::Result<(), AssociationRJServiceUserReason> {
        if called_ae_title.trim() != this_ae_title.trim() {
            return Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized);
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|a| a.trim() == calling_ae_title.trim())
        {
            return Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized);
        }
        Ok(())
    }
}

/// The instance an association is receiving.
struct Transfer {
    command: Command,
    presentation_context_id: u8,
    /// `None` once refused: the rest of its data set is read and dropped, then a failure sent.
    incoming: Option<Incoming>,
    refusal: Option<(u16, String)>,
}

impl Shared {
    fn event(&self, e: Event) {
        if let Some(f) = &self.options.on_event {
            f(&e);
        }
    }

    fn reject_busy(&self, mut stream: TcpStream) {
        self.stats.rejected.fetch_add(1, Ordering::Relaxed);
        let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
        let pdu = Pdu::AssociationRJ(AssociationRJ {
            result: AssociationRJResult::Transient,
            source: AssociationRJSource::ServiceProviderPresentation(
                AssociationRJServiceProviderPresentationReason::LocalLimitExceeded,
            ),
        });
        let mut bytes = Vec::new();
        if write_pdu(&mut bytes, &pdu).is_ok() {
            let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
            let _ = std::io::Write::write_all(&mut stream, &bytes);
        }
        self.event(Event::Rejected {
            calling_ae: String::new(),
            peer,
            reason: format!("{} associations already open", self.options.max_associations),
        });
    }

    fn associate(&self, stream: TcpStream) {
        let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
        let o = &self.options;
        let mut options = ServerAssociationOptions::new()
            .ae_access_control(AllowList { allow: o.allow.clone() })
            .ae_title(o.ae_title.clone())
            .max_pdu_length(o.max_pdu_length)
            .strict(true)
            .read_timeout(o.timeout)
            .write_timeout(o.timeout)
            .with_abstract_syntax(uids::VERIFICATION);
        for sop in STORAGE_SOP_CLASSES {
            options = options.with_abstract_syntax(*sop);
        }
        for ts in TRANSFER_SYNTAXES {
            options = options.with_transfer_syntax(*ts);
        }
        let mut association = match options.establish(stream) {
            Ok(a) => a,
            Err(e) => {
                self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                self.event(Event::Rejected {
                    calling_ae: String::new(),
                    peer,
                    reason: e.to_string(),
                });
                return;
            }
        };
        let calling_ae = association.peer_ae_title().trim().to_string();
        self.stats.associations.fetch_add(1, Ordering::Relaxed);
        self.event(Event::Associated { calling_ae: calling_ae.clone(), peer });
        let how = self.serve_association(&mut association, &calling_ae);
        if how != "released" {
            self.stats.broken.fetch_add(1, Ordering::Relaxed);
            let _ = association.abort();
        }
        self.event(Event::Ended { calling_ae, how });
    }

    /// Runs one association's message exchange; says how it ended.
    fn serve_association<S>(
        &self,
        association: &mut dicom_ul::association::server::ServerAssociation<S>,
        calling_ae: &str,
    ) -> String
    where
        S: std::io::Read + std::io::Write + dicom_ul::association::CloseSocket,
    {
        let mut command_bytes: Vec<u8> = Vec::new();
        let mut transfer: Option<Transfer> = None;
        loop {
            let pdu = match association.receive() {
                Ok(p) => p,
                Err(e) => return format!("error: {e}"),
            };
            let data = match pdu {
                Pdu::PData { data } => data,
                Pdu::ReleaseRQ => {
                    let _ = association.send(&Pdu::ReleaseRP);
                    return if transfer.is_some() {
                        "released in the middle of an instance (dropped)".into()
                    } else {
                        "released".into()
                    };
                }
                Pdu::AbortRQ { .. } => return "aborted by peer".into(),
                other => return format!("unexpected {}", other.short_description()),
            };
            for pdv in data {
                match pdv.value_type {
                    PDataValueType::Command => {
                        if transfer.is_some() {
                            return "a command arrived in the middle of a data set".into();
                        }
                        if command_bytes.len() + pdv.data.len() > 1 << 20 {
                            return "a command set longer than 1 MiB".into();
                        }
                        command_bytes.extend_from_slice(&pdv.data);
                        if !pdv.is_last {
                            continue;
                        }
                        let command = match dimse::read_command(&command_bytes) {
                            Ok(c) => c,
                            Err(e) => return e,
                        };
                        command_bytes.clear();
                        match self.start(
                            association,
                            &command,
                            pdv.presentation_context_id,
                            calling_ae,
                        ) {
                            Ok(Some(t)) => transfer = Some(t),
                            Ok(None) => {}
                            Err(e) => return e,
                        }
                    }
                    PDataValueType::Data => {
                        let Some(t) = transfer.as_mut() else {
                            return "data arrived without a command".into();
                        };
                        if pdv.presentation_context_id != t.presentation_context_id {
                            return "data arrived on another presentation context than its command"
                                .into();
                        }
                        let written = t.incoming.as_mut().map(|i| i.write(&pdv.data));
                        if let Some(Err(e)) = written {
                            // Over the size limit or unwritable: the temporary file goes now;
                            // the rest of the data set is read and dropped, then the sender
                            // gets the failure and can go on with its next instance.
                            t.incoming = None;
                            t.refusal = Some((dimse::OUT_OF_RESOURCES, e.reason()));
                        }
                        if pdv.is_last {
                            let Some(t) = transfer.take() else { continue };
                            if let Err(e) = self.finish(association, t, calling_ae) {
                                return e;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Acts on a command: answers C-ECHO and unknown commands at once, or starts a transfer.
    fn start<S>(
        &self,
        association: &mut dicom_ul::association::server::ServerAssociation<S>,
        command: &Command,
        pc_id: u8,
        calling_ae: &str,
    ) -> std::result::Result<Option<Transfer>, String>
    where
        S: std::io::Read + std::io::Write + dicom_ul::association::CloseSocket,
    {
        let Some(pc) =
            association.presentation_contexts().iter().find(|pc| pc.id == pc_id).cloned()
        else {
            return Err(format!(
                "a command on presentation context {pc_id}, which was not accepted"
            ));
        };
        match command.field {
            dimse::C_ECHO_RQ if !command.has_data_set => {
                send_command(association, pc_id, dimse::response(command, dimse::SUCCESS, None))?;
                Ok(None)
            }
            dimse::C_STORE_RQ if command.has_data_set => {
                let mut refusal = None;
                let incoming = if STORAGE_SOP_CLASSES.contains(&command.sop_class_uid.as_str()) {
                    let ts = pc.transfer_syntax.trim_end_matches(['\0', ' ']);
                    match self.store.begin(
                        &command.sop_class_uid,
                        &command.sop_instance_uid,
                        ts,
                        calling_ae,
                        self.options.max_instance_bytes,
                    ) {
                        Ok(i) => Some(i),
                        Err(e) => {
                            refusal = Some((dimse::CANNOT_UNDERSTAND, e.reason()));
                            None
                        }
                    }
                } else {
                    refusal = Some((
                        dimse::DATA_SET_MISMATCH,
                        format!(
                            "SOP class {} is not a storage class accepted here",
                            command.sop_class_uid
                        ),
                    ));
                    None
                };
                Ok(Some(Transfer {
                    command: command.clone(),
                    presentation_context_id: pc_id,
                    incoming,
                    refusal,
                }))
            }
            _ => {
                let reason = format!("command 0x{:04X} is not supported", command.field);
                send_command(
                    association,
                    pc_id,
                    dimse::response(command, dimse::UNRECOGNIZED_OPERATION, Some(&reason)),
                )?;
                if command.has_data_set {
                    // Read and drop the data set that follows.
                    Ok(Some(Transfer {
                        command: Command { field: 0, ..command.clone() },
                        presentation_context_id: pc_id,
                        incoming: None,
                        refusal: None,
                    }))
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// Commits a received instance and answers its C-STORE.
    fn finish<S>(
        &self,
        association: &mut dicom_ul::association::server::ServerAssociation<S>,
        t: Transfer,
        calling_ae: &str,
    ) -> std::result::Result<(), String>
    where
        S: std::io::Read + std::io::Write + dicom_ul::association::CloseSocket,
    {
        if t.command.field != dimse::C_STORE_RQ {
            return Ok(()); // the data set of an unsupported command, already answered
        }
        let (status, comment) = match (t.incoming, t.refusal) {
            (Some(incoming), None) => match self.store.commit(incoming) {
                Ok(outcome) => self.stored(calling_ae, outcome),
                Err(e) => {
                    let status = match &e {
                        Error::Io { .. } => dimse::OUT_OF_RESOURCES,
                        _ => dimse::DATA_SET_MISMATCH,
                    };
                    self.refused(calling_ae, &t.command, &e.to_string());
                    // The peer gets the reason, never the server's paths.
                    (status, Some(e.reason()))
                }
            },
            (_, Some((status, why))) => {
                self.refused(calling_ae, &t.command, &why);
                (status, Some(why))
            }
            (None, None) => {
                let why = "the instance was not received".to_string();
                self.refused(calling_ae, &t.command, &why);
                (dimse::OUT_OF_RESOURCES, Some(why))
            }
        };
        send_command(
            association,
            t.presentation_context_id,
            dimse::response(&t.command, status, comment.as_deref()),
        )
    }

    fn stored(&self, calling_ae: &str, outcome: Outcome) -> (u16, Option<String>) {
        let (name, record, status, comment) = match outcome {
            Outcome::Stored(r) => {
                self.stats.stored.fetch_add(1, Ordering::Relaxed);
                ("stored", r, dimse::SUCCESS, None)
            }
            Outcome::Duplicate(r) => {
                self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                ("duplicate", r, dimse::SUCCESS, None)
            }
            Outcome::Conflict { kept, stored } => {
                self.stats.conflicts.fetch_add(1, Ordering::Relaxed);
                let comment = format!(
                    "UID stored before with other bytes ({}); kept apart",
                    stored.sha256.get(..8).unwrap_or("?")
                );
                ("conflict", kept, dimse::CONFLICT, Some(comment))
            }
        };
        self.event(Event::Instance {
            calling_ae: calling_ae.to_string(),
            sop_instance_uid: record.sop_instance_uid,
            outcome: name.into(),
            path: record.path,
        });
        (status, comment)
    }

    fn refused(&self, calling_ae: &str, command: &Command, reason: &str) {
        self.stats.refused.fetch_add(1, Ordering::Relaxed);
        self.event(Event::Refused {
            calling_ae: calling_ae.to_string(),
            sop_instance_uid: command.sop_instance_uid.clone(),
            reason: reason.to_string(),
        });
    }
}

fn send_command<S>(
    association: &mut dicom_ul::association::server::ServerAssociation<S>,
    pc_id: u8,
    bytes: Vec<u8>,
) -> std::result::Result<(), String>
where
    S: std::io::Read + std::io::Write + dicom_ul::association::CloseSocket,
{
    let pdu = Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: pc_id,
            value_type: PDataValueType::Command,
            is_last: true,
            data: bytes,
        }],
    };
    association.send(&pdu).map_err(|e| format!("could not answer: {e}"))
}
