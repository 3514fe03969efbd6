//! The member snapshot (Serf's `-snapshot`): a file that records which
//! members this agent knew and where, so that a restarted agent rejoins
//! them without seeds.
//!
//! ## Format
//!
//! Append-only text, one record a line: the CRC-32 (IEEE) of the record's
//! JSON as 8 lowercase hex digits, a space, the JSON, a newline:
//!
//! ```text
//! 3b0e5a3c {"op":"alive","name":"web-1","addr":"10.0.0.1:7946"}
//! 9d1f0c27 {"op":"gone","name":"web-2"}
//! 0c4f2a91 {"op":"events","floor":42}
//! 5e7d1c0a {"op":"leave"}
//! ```
//!
//! - `alive`: a member was learned, came back or moved (name and address);
//! - `gone`: a member failed, left or was reaped;
//! - `events`: this agent delivered every user event stamped below
//!   `floor` (one past the clock of the last it delivered). A restarted
//!   agent resumes it ([`swim_core::Node::resume_events`]): it delivers
//!   none of them again, even when the peers it meets first never heard
//!   of them (Serf's snapshot keeps its event clock the same way). Kept
//!   across a leave.
//! - `leave`: this agent left the cluster gracefully. Replayed without
//!   `rejoin_after_leave`, the members recorded before it are not rejoined
//!   (as Serf does): an agent that left does not rejoin on its own. They
//!   are kept, with the `leave` record before what the next life records,
//!   until a start with `rejoin_after_leave` rejoins them (Serf's replay
//!   ignores the leave then, too). It is the last record of its life: what
//!   the agent learns while its leave spreads is not recorded.
//!
//! Only names, addresses and the event floor are recorded: never keys,
//! tags, metadata or events themselves.
//! A record is written with one `write` call and no `fsync`; every so
//! often (once the appended bytes exceed both 64 KiB and twice the live
//! records' size) the file is compacted: the live members are written to
//! a fresh private temporary file (mode 0600, `O_EXCL | O_NOFOLLOW`, see
//! `files.rs`), which is fsynced and renamed over `PATH`, and the directory
//! fsynced. The file is also compacted when the agent starts.
//!
//! ## Damage
//!
//! [`load`] reads records until the first that is incomplete (no newline,
//! as a crash mid-write leaves it), too long, fails its checksum or does not
//! parse; the rest is cut (the compaction at start rewrites the file
//! without it) and [`Loaded::cut`] says what was cut and at which offset.
//! A damaged file is never fatal. At most [`MAX_FILE`] bytes are read and
//! at most [`MAX_MEMBERS`] members kept, so a hostile file cannot make the
//! agent allocate more.
//!
//! ## One agent a file
//!
//! While it has the snapshot open, an agent holds an exclusive advisory
//! lock (`flock(2)`, on Unix) on `PATH.lock` beside it: a lock on `PATH`
//! itself would not outlive the first compaction, which renames a new
//! file over it. The lock file holds the owner's process id; a second
//! agent given the same `PATH` does not start ([`InUse`]) instead of
//! interleaving its records with the first's. The lock goes with the
//! process (a crash or `kill -9` frees it); the file stays, harmless.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// Longest record line, newline included (a name is at most 128 bytes;
/// JSON escapes can make it up to six times longer).
pub const MAX_LINE: usize = 1024;
/// Most bytes of a snapshot file that are read; the rest is cut.
pub const MAX_FILE: u64 = 16 << 20;
/// Most members a snapshot keeps; records of more are cut.
pub const MAX_MEMBERS: usize = 65_536;
/// Appended bytes below which the file is never compacted.
const COMPACT_MIN: u64 = 64 << 10;
/// Records queued for the writer thread before the driver falls back to
/// a full rewrite.
const QUEUE: usize = 4096;

/// One record of the snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Record {
    /// A member is alive at `addr`.
    Alive {
        /// Its name.
        name: String,
        /// Its gossip address.
        addr: SocketAddr,
    },
    /// A member failed, left or was reaped.
    Gone {
        /// Its name.
        name: String,
    },
    /// This agent delivered every user event stamped below `floor`.
    Events {
        /// One past the clock of the last user event delivered.
        floor: u64,
    },
    /// This agent left the cluster gracefully.
    Leave,
}

impl Record {
    /// The record as one line: checksum, space, JSON, newline.
    pub fn encode(&self) -> Vec<u8> {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let mut line = format!("{:08x} ", crc32fast::hash(&json)).into_bytes();
        line.extend_from_slice(&json);
        line.push(b'\n');
        line
    }

    /// Decodes one line (without its newline); the error says why a line
    /// is refused (no checksum, a wrong one, JSON that is not a record).
    fn decode(line: &[u8]) -> Result<Record, &'static str> {
        let (sum, json) = match line.get(..9) {
            Some(head) if head[8] == b' ' => (&head[..8], &line[9..]),
            _ => return Err("no checksum"),
        };
        let sum = std::str::from_utf8(sum)
            .ok()
            .and_then(|s| u32::from_str_radix(s, 16).ok())
            .ok_or("no checksum")?;
        if crc32fast::hash(json) != sum {
            return Err("checksum mismatch");
        }
        serde_json::from_slice(json).map_err(|_| "not a record")
    }
}

/// Where a snapshot was cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    /// Byte offset of the first record that was not kept.
    pub offset: u64,
    /// Bytes dropped from there (up to the end of what was read).
    pub bytes: u64,
    /// Why the record there was refused.
    pub reason: &'static str,
}

/// A snapshot as read back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// The members recorded alive, by name.
    pub members: BTreeMap<String, SocketAddr>,
    /// Whether the last state recorded was a graceful leave (members
    /// recorded before it are forgotten unless `rejoin_after_leave`).
    pub left: bool,
    /// The highest event floor recorded (0: none).
    pub event_floor: u64,
    /// Good records read.
    pub records: usize,
    /// What was cut, if the file was damaged.
    pub cut: Option<Cut>,
}

/// Replays snapshot bytes: every good record up to the first bad one.
/// Never panics; `rejoin_after_leave` keeps the members recorded before a
/// `leave` record.
pub fn parse(bytes: &[u8], rejoin_after_leave: bool) -> Loaded {
    let mut loaded = Loaded::default();
    let mut pos = 0;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let window = &rest[..rest.len().min(MAX_LINE)];
        let refused = match window.iter().position(|&b| b == b'\n') {
            None if rest.len() >= MAX_LINE => Err("record too long"),
            None => Err("incomplete record (no newline)"),
            Some(end) => Record::decode(&window[..end]).map(|r| (r, end + 1)),
        };
        let reason = match refused {
            Ok((record, len)) => match apply(&mut loaded, record, rejoin_after_leave) {
                Ok(()) => {
                    loaded.records += 1;
                    pos += len;
                    continue;
                }
                Err(reason) => reason,
            },
            Err(reason) => reason,
        };
        loaded.cut = Some(Cut {
            offset: pos as u64,
            bytes: (bytes.len() - pos) as u64,
            reason,
        });
        break;
    }
    loaded
}

fn apply(loaded: &mut Loaded, record: Record, rejoin: bool) -> Result<(), &'static str> {
    match record {
        Record::Alive { name, addr } => {
            if !loaded.members.contains_key(&name) && loaded.members.len() >= MAX_MEMBERS {
                return Err("too many members");
            }
            if name.is_empty() || name.len() > swim_core::MAX_NAME_LEN {
                return Err("invalid member name");
            }
            loaded.members.insert(name, addr);
            loaded.left = false;
        }
        Record::Gone { name } => {
            loaded.members.remove(&name);
        }
        Record::Events { floor } => loaded.event_floor = loaded.event_floor.max(floor),
        Record::Leave => {
            loaded.left = true;
            if !rejoin {
                loaded.members.clear();
            }
        }
    }
    Ok(())
}

/// Reads and replays the snapshot at `path` (a missing file is an empty
/// snapshot); at most [`MAX_FILE`] bytes are read.
pub fn load(path: &Path, rejoin_after_leave: bool) -> io::Result<Loaded> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Loaded::default()),
        Err(e) => return Err(e),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut bytes = Vec::with_capacity(len.min(MAX_FILE) as usize);
    file.take(MAX_FILE).read_to_end(&mut bytes)?;
    let mut loaded = parse(&bytes, rejoin_after_leave);
    if loaded.cut.is_none() && len > MAX_FILE {
        loaded.cut = Some(Cut {
            offset: MAX_FILE,
            bytes: len - MAX_FILE,
            reason: "file larger than the 16 MiB read",
        });
    } else if let Some(cut) = &mut loaded.cut {
        cut.bytes = len.saturating_sub(cut.offset);
    }
    Ok(loaded)
}

/// Drops kept members (the last by name first) until they and `live`
/// members number at most [`MAX_MEMBERS`].
fn cap_kept(kept: &mut BTreeMap<String, SocketAddr>, live: usize) {
    while !kept.is_empty() && kept.len() + live > MAX_MEMBERS {
        kept.pop_last();
    }
}

/// The event floor and the live members as the lines of a compacted
/// snapshot; members `kept` from before a leave (for a later start with
/// `rejoin_after_leave`) come first, followed by the `leave` record.
fn compacted(
    kept: &BTreeMap<String, SocketAddr>,
    members: &BTreeMap<String, SocketAddr>,
    event_floor: u64,
) -> Vec<u8> {
    let mut out = Vec::new();
    if event_floor > 0 {
        out.extend(Record::Events { floor: event_floor }.encode());
    }
    if !kept.is_empty() {
        for (name, addr) in kept {
            out.extend(
                Record::Alive {
                    name: name.clone(),
                    addr: *addr,
                }
                .encode(),
            );
        }
        out.extend(Record::Leave.encode());
    }
    for (name, addr) in members {
        out.extend(
            Record::Alive {
                name: name.clone(),
                addr: *addr,
            }
            .encode(),
        );
    }
    out
}

/// Rewrites the snapshot with just the event floor, the members `kept`
/// from before a leave and `members` (through a fresh private temporary
/// file, fsynced, renamed over `PATH`, the directory fsynced), then opens
/// it for appending.
fn compact(
    path: &Path,
    kept: &BTreeMap<String, SocketAddr>,
    members: &BTreeMap<String, SocketAddr>,
    event_floor: u64,
) -> io::Result<(File, u64)> {
    let bytes = compacted(kept, members, event_floor);
    crate::files::write_private(path, &bytes)?;
    let file = open_append(path)?;
    Ok((file, bytes.len() as u64))
}

/// Opens the snapshot for appending, never through a symlink.
fn open_append(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.custom_flags(libc::O_NOFOLLOW);
    }
    o.open(path)
}

/// The lock file beside the snapshot `path`: `PATH.lock`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// The snapshot is in use by another agent: its lock file is locked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the snapshot {} is in use by another agent ({}, holding the lock on {}): two agents must not \
     share one snapshot file; give this agent its own --snapshot PATH (`snapshot` in the config \
     file), or stop the other",
    path.display(),
    pid.map_or("its process id unknown".to_string(), |p| format!("pid {p}")),
    lock.display()
)]
pub struct InUse {
    /// The snapshot file.
    pub path: PathBuf,
    /// Its lock file.
    pub lock: PathBuf,
    /// The process id the lock file names, if it names one.
    pub pid: Option<u32>,
}

/// Takes the exclusive lock on `PATH.lock` (created if missing, mode
/// 0600, never through a symlink) and writes this process's id in it; the
/// lock is held as long as the returned file is open. An error of kind
/// `WouldBlock` carrying [`InUse`] when another process holds it.
#[cfg(unix)]
fn lock(path: &Path) -> io::Result<File> {
    use std::os::fd::AsRawFd as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let lock = lock_path(path);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&lock)?;
    // SAFETY: flock on a descriptor this function owns; no memory is shared.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::WouldBlock {
            return Err(e);
        }
        let mut text = String::new();
        let _ = (&file).take(32).read_to_string(&mut text);
        let pid = text.trim().parse().ok();
        let path = path.to_path_buf();
        return Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            InUse { path, lock, pid },
        ));
    }
    file.set_len(0)?;
    file.write_all(format!("{}\n", std::process::id()).as_bytes())?;
    Ok(file)
}

/// No advisory lock off Unix: the file is opened only to be held.
#[cfg(not(unix))]
fn lock(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(lock_path(path))
}

/// What the driver sends the writer thread.
enum Msg {
    Record(Record),
    /// The queue overflowed: these are all the live members now, and the
    /// event floor.
    Reset(BTreeMap<String, SocketAddr>, u64),
}

/// The driver's side of an open snapshot: records go to a writer thread,
/// so the node's task never waits on the disk.
pub(crate) struct Snapshot {
    tx: Option<mpsc::SyncSender<Msg>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// A record was dropped on a full queue: the next chance, all the
    /// live members are sent instead.
    lost: bool,
    /// The highest event floor recorded (sent again after an overflow).
    event_floor: u64,
    /// The open lock file (see the module's "One agent a file"): held
    /// until the writer has stopped.
    lock: Option<File>,
}

impl Snapshot {
    /// Loads the snapshot at `path`, compacts it (which drops a damaged
    /// tail) and starts the writer. Returns the members to rejoin too
    /// (none after a graceful leave, unless `rejoin_after_leave`). Refused
    /// ([`InUse`], inside an error of kind `WouldBlock`) when another agent
    /// holds the snapshot's lock, before anything is read or written.
    pub(crate) fn open(
        path: &Path,
        rejoin_after_leave: bool,
        own_name: &str,
    ) -> io::Result<(Snapshot, Loaded)> {
        let lock = lock(path)?;
        let mut loaded = load(path, rejoin_after_leave)?;
        loaded.members.remove(own_name);
        if let Some(cut) = &loaded.cut {
            tracing::warn!(
                path = %path.display(),
                offset = cut.offset,
                bytes = cut.bytes,
                kept = loaded.records,
                "snapshot damaged: {}; cut {} bytes at offset {} (kept the {} records before it)",
                cut.reason,
                cut.bytes,
                cut.offset,
                loaded.records
            );
        }
        // After a leave, a start without `rejoin_after_leave` does not
        // rejoin the members recorded before it but keeps them, with the
        // leave, for a later start with it (as Serf's snapshot does).
        // (A replay that keeps them sees a leave followed by this agent's
        // later lives as no leave: it is read again to find them.)
        // Kept and live members together stay within `MAX_MEMBERS`, the
        // most a replay with `rejoin_after_leave` holds: the live ones
        // first, then as many kept ones as fit.
        let mut kept = BTreeMap::new();
        if !rejoin_after_leave {
            kept = load(path, true)?.members;
            kept.remove(own_name);
            kept.retain(|name, _| !loaded.members.contains_key(name));
            cap_kept(&mut kept, loaded.members.len());
        }
        if loaded.left && !rejoin_after_leave {
            tracing::info!(
                path = %path.display(),
                kept = kept.len(),
                "snapshot: this agent left the cluster gracefully last time; not rejoining \
                 the {} member(s) recorded before the leave (start with --rejoin to rejoin \
                 them: the snapshot keeps them until a start that rejoins), and running alone \
                 unless --join or `swim join` names seeds",
                kept.len()
            );
        } else if !kept.is_empty() {
            // A life after the leave did not leave: its members are
            // rejoined; the ones from before the leave are still kept.
            tracing::info!(
                path = %path.display(),
                kept = kept.len(),
                "snapshot: still keeping the {} member(s) recorded before an earlier leave, \
                 not rejoined by this start (start with --rejoin to rejoin them too)",
                kept.len()
            );
        }
        let (file, size) = compact(path, &kept, &loaded.members, loaded.event_floor)?;
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let writer = Writer {
            path: path.to_path_buf(),
            file,
            live: loaded.members.clone(),
            kept,
            live_bytes: size,
            appended: 0,
            left: false,
            event_floor: loaded.event_floor,
        };
        let thread = std::thread::Builder::new()
            .name("swim-snapshot".into())
            .spawn(move || writer.run(rx))?;
        Ok((
            Snapshot {
                tx: Some(tx),
                thread: Some(thread),
                lost: false,
                event_floor: loaded.event_floor,
                lock: Some(lock),
            },
            loaded,
        ))
    }

    /// Queues a record; `members` gives every live member should the
    /// queue have overflowed since the last call.
    pub(crate) fn record(
        &mut self,
        record: Record,
        members: impl FnOnce() -> BTreeMap<String, SocketAddr>,
    ) {
        let Some(tx) = &self.tx else { return };
        if let Record::Events { floor } = record {
            if floor <= self.event_floor {
                return;
            }
            self.event_floor = floor;
        }
        if self.lost {
            match tx.try_send(Msg::Reset(members(), self.event_floor)) {
                Ok(()) => self.lost = false,
                Err(_) => return,
            }
            // The reset holds this record's effect already, unless it is a leave.
            if record != Record::Leave {
                return;
            }
        }
        if tx.try_send(Msg::Record(record)).is_err() {
            self.lost = true;
        }
    }

    /// Writes what is queued and stops the writer (blocking for that long).
    /// The lock is released then: nothing writes the file any more.
    pub(crate) fn close(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.lock = None;
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.close();
    }
}

/// The writer thread's state.
struct Writer {
    path: PathBuf,
    file: File,
    /// The members alive as recorded.
    live: BTreeMap<String, SocketAddr>,
    /// Members recorded before an earlier leave, kept (before a `leave`
    /// record) for a later start with `rejoin_after_leave`.
    kept: BTreeMap<String, SocketAddr>,
    /// The size of the live records (as of the last compaction).
    live_bytes: u64,
    /// Bytes appended since the last compaction.
    appended: u64,
    /// This agent left: the leave record is the file's last, and nothing
    /// learned while the leave spreads is recorded after it.
    left: bool,
    /// The event floor as recorded.
    event_floor: u64,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        while let Ok(msg) = rx.recv() {
            let result = match msg {
                Msg::Record(r) => self.append(r),
                Msg::Reset(..) if self.left => Ok(()),
                Msg::Reset(members, event_floor) => {
                    self.live = members;
                    for name in self.live.keys() {
                        self.kept.remove(name);
                    }
                    cap_kept(&mut self.kept, self.live.len());
                    self.event_floor = self.event_floor.max(event_floor);
                    self.compact()
                }
            };
            if let Err(e) = result {
                tracing::error!(path = %self.path.display(), error = %e, "snapshot not written");
            }
        }
    }

    fn append(&mut self, record: Record) -> io::Result<()> {
        if self.left {
            return Ok(());
        }
        // Records that change nothing are not written.
        match &record {
            Record::Alive { name, addr } if self.live.get(name) == Some(addr) => return Ok(()),
            Record::Alive { name, addr } => {
                if !self.live.contains_key(name) && self.live.len() >= MAX_MEMBERS {
                    return Ok(());
                }
                // A kept member met again is live (one name, counted once).
                // A new one past `MAX_MEMBERS` in all pushes a kept one out,
                // recorded gone before it: a replay with
                // `rejoin_after_leave` never holds more than it keeps.
                if self.kept.remove(name).is_none()
                    && !self.live.contains_key(name)
                    && self.kept.len() + self.live.len() >= MAX_MEMBERS
                {
                    if let Some((out, _)) = self.kept.pop_last() {
                        let line = Record::Gone { name: out }.encode();
                        self.file.write_all(&line)?;
                        self.appended += line.len() as u64;
                    }
                }
                self.live.insert(name.clone(), *addr);
            }
            Record::Gone { name }
                if (self.live.remove(name).is_none()) & (self.kept.remove(name).is_none()) =>
            {
                return Ok(())
            }
            Record::Gone { .. } => {}
            Record::Events { floor } if *floor <= self.event_floor => return Ok(()),
            Record::Events { floor } => self.event_floor = *floor,
            Record::Leave => self.left = true,
        }
        let line = record.encode();
        self.file.write_all(&line)?;
        self.appended += line.len() as u64;
        if record != Record::Leave && self.appended > COMPACT_MIN.max(2 * self.live_bytes) {
            self.compact()?;
        }
        Ok(())
    }

    fn compact(&mut self) -> io::Result<()> {
        let (file, size) = compact(&self.path, &self.kept, &self.live, self.event_floor)?;
        self.file = file;
        self.live_bytes = size;
        self.appended = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn alive(name: &str, port: u16) -> Record {
        Record::Alive {
            name: name.into(),
            addr: addr(port),
        }
    }

    fn file(records: &[Record]) -> Vec<u8> {
        records.iter().flat_map(Record::encode).collect()
    }

    #[test]
    fn replays_join_fail_and_leave() {
        let records = [
            alive("a", 1),
            alive("b", 2),
            alive("a", 3),
            Record::Gone { name: "b".into() },
            alive("c", 4),
        ];
        let loaded = parse(&file(&records), false);
        assert_eq!(loaded.records, 5);
        assert_eq!(loaded.cut, None);
        let want: BTreeMap<_, _> = [("a".to_string(), addr(3)), ("c".to_string(), addr(4))].into();
        assert_eq!(loaded.members, want);

        let mut left = records.to_vec();
        left.push(Record::Leave);
        let loaded = parse(&file(&left), false);
        assert!(loaded.left && loaded.members.is_empty());
        let loaded = parse(&file(&left), true);
        assert!(loaded.left);
        assert_eq!(loaded.members, want);
        // Alive again after the leave: a later life's members count.
        left.push(alive("d", 5));
        let loaded = parse(&file(&left), false);
        assert!(!loaded.left);
        assert_eq!(loaded.members.keys().collect::<Vec<_>>(), ["d"]);
    }

    #[test]
    fn truncation_at_every_offset_keeps_a_prefix() {
        let records = [
            alive("a", 1),
            alive("b", 2),
            Record::Gone { name: "a".into() },
            alive("c\n\"é", 3),
            Record::Leave,
            alive("d", 4),
        ];
        let bytes = file(&records);
        let ends: Vec<usize> = records
            .iter()
            .scan(0, |n, r| {
                *n += r.encode().len();
                Some(*n)
            })
            .collect();
        for cut in 0..=bytes.len() {
            let loaded = parse(&bytes[..cut], false);
            let whole = ends.iter().filter(|&&e| e <= cut).count();
            assert_eq!(loaded.records, whole, "cut at {cut}");
            let prefix = parse(&file(&records[..whole]), false);
            assert_eq!(loaded.members, prefix.members, "cut at {cut}");
            assert_eq!(loaded.left, prefix.left, "cut at {cut}");
            let good = if whole == 0 { 0 } else { ends[whole - 1] };
            match &loaded.cut {
                None => assert_eq!(good, cut),
                Some(c) => {
                    assert_eq!(c.offset as usize, good);
                    assert_eq!(c.bytes as usize, cut - good);
                }
            }
        }
    }

    #[test]
    fn corruption_is_cut_at_the_last_good_record() {
        let records = [alive("a", 1), alive("b", 2), alive("c", 3)];
        let mut bytes = file(&records);
        let second = records[0].encode().len();
        // A flipped byte in the second record's JSON.
        bytes[second + 20] ^= 0x20;
        let loaded = parse(&bytes, false);
        assert_eq!(loaded.records, 1);
        let cut = loaded.cut.unwrap();
        assert_eq!(cut.offset as usize, second);
        assert_eq!(cut.reason, "checksum mismatch");

        // Garbage, a line too long, a record of the wrong shape.
        for junk in [
            &b"\x00\xff garbage\n"[..],
            &[b'x'; 5000][..],
            &Record::encode(&alive("a", 1))[..3],
        ] {
            let mut bytes = file(&records[..1]);
            bytes.extend_from_slice(junk);
            bytes.extend(file(&records[1..]));
            let loaded = parse(&bytes, false);
            assert_eq!(loaded.records, 1);
            assert_eq!(loaded.members.len(), 1);
        }
        let json = br#"{"op":"alive","name":"a","addr":"1.2.3.4:5","extra":1}"#;
        let mut line = format!("{:08x} ", crc32fast::hash(json)).into_bytes();
        line.extend_from_slice(json);
        line.push(b'\n');
        assert_eq!(parse(&line, false).cut.unwrap().reason, "not a record");
    }

    #[test]
    fn random_bytes_never_panic() {
        // A small xorshift: deterministic, no dependency.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let good = file(&[alive("a", 1), alive("b", 2)]);
        for _ in 0..2000 {
            let mut bytes = good.clone();
            let n = (next() % 8) as usize;
            for _ in 0..n {
                let i = (next() as usize) % bytes.len();
                bytes[i] = next() as u8;
            }
            let loaded = parse(&bytes, false);
            assert!(loaded.records <= 2);
        }
    }

    /// A second open of a snapshot in use is refused, naming the file and
    /// the holder; once the first is closed it opens.
    #[cfg(unix)]
    #[test]
    fn a_snapshot_in_use_is_refused() {
        let dir = std::env::temp_dir().join(format!("swim-snap-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("snap");
        let (mut first, _) = Snapshot::open(&path, false, "me").unwrap();
        let e = Snapshot::open(&path, false, "me").err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        let in_use = e.get_ref().and_then(|e| e.downcast_ref::<InUse>()).unwrap();
        assert_eq!(in_use.pid, Some(std::process::id()));
        let text = e.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("in use by another agent"), "{text}");
        first.close();
        let (_second, _) = Snapshot::open(&path, false, "me").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nothing_is_recorded_after_the_leave() {
        let dir = std::env::temp_dir().join(format!("swim-snap-leave-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("snap");
        let _ = std::fs::remove_file(&path);
        let (mut snap, _) = Snapshot::open(&path, false, "me").unwrap();
        snap.record(alive("a", 1), BTreeMap::new);
        snap.record(Record::Leave, BTreeMap::new);
        // Learned while the leave spreads: must not undo it.
        snap.record(alive("b", 2), BTreeMap::new);
        snap.close();
        let loaded = load(&path, false).unwrap();
        assert!(loaded.left && loaded.members.is_empty(), "{loaded:?}");
        let loaded = load(&path, true).unwrap();
        assert_eq!(loaded.members.keys().collect::<Vec<_>>(), ["a"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A start without `rejoin_after_leave` after a leave rejoins nobody
    /// but keeps the members for a later start with it, through the
    /// compactions of its own life.
    #[test]
    fn a_start_without_rejoin_keeps_the_members_for_a_later_rejoin() {
        let dir = std::env::temp_dir().join(format!("swim-snap-keep-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("snap");
        let _ = std::fs::remove_file(&path);
        let (mut snap, _) = Snapshot::open(&path, false, "me").unwrap();
        snap.record(alive("a", 1), BTreeMap::new);
        snap.record(alive("b", 2), BTreeMap::new);
        snap.record(Record::Leave, BTreeMap::new);
        snap.close();
        // Alone: nobody to rejoin; meets c, hears b failed, churns enough
        // to compact.
        let (mut snap, loaded) = Snapshot::open(&path, false, "me").unwrap();
        assert!(loaded.left && loaded.members.is_empty(), "{loaded:?}");
        snap.record(Record::Gone { name: "b".into() }, BTreeMap::new);
        for i in 0..3000u16 {
            snap.record(alive("c", 1000 + i), BTreeMap::new);
        }
        snap.close();
        let alone = load(&path, false).unwrap();
        assert_eq!(alone.members.keys().collect::<Vec<_>>(), ["c"]);
        // Another start without it (c is rejoined: it was met after the
        // leave) keeps a still.
        let (snap, loaded) = Snapshot::open(&path, false, "me").unwrap();
        assert_eq!(loaded.members.keys().collect::<Vec<_>>(), ["c"]);
        drop(snap);
        // A later start with rejoin_after_leave rejoins a and c.
        let (snap, loaded) = Snapshot::open(&path, true, "me").unwrap();
        assert_eq!(loaded.members.keys().collect::<Vec<_>>(), ["a", "c"]);
        drop(snap);
        // ... and from then on the leave is gone.
        assert!(!load(&path, false).unwrap().left);
        assert_eq!(load(&path, false).unwrap().members.len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Kept and live members together never pass `MAX_MEMBERS`: a member
    /// met after the leave, with the kept ones at the limit, pushes a kept
    /// one out (recorded gone before it), so a replay with
    /// `rejoin_after_leave` reads the agent's own file whole.
    #[test]
    fn kept_and_live_members_stay_within_the_limit() {
        let dir = std::env::temp_dir().join(format!("swim-snap-cap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("snap");
        let mut records: Vec<Record> = (0..MAX_MEMBERS)
            .map(|i| alive(&format!("k{i:05}"), (i % 60_000 + 1) as u16))
            .collect();
        records.push(Record::Leave);
        std::fs::write(&path, file(&records)).unwrap();
        let (mut snap, loaded) = Snapshot::open(&path, false, "me").unwrap();
        assert!(loaded.left && loaded.members.is_empty());
        snap.record(alive("new", 9), BTreeMap::new);
        // A kept member met again is counted once.
        snap.record(alive("k00000", 1), BTreeMap::new);
        snap.close();
        let rejoin = load(&path, true).unwrap();
        assert!(rejoin.cut.is_none(), "{:?}", rejoin.cut);
        assert_eq!(rejoin.members.len(), MAX_MEMBERS);
        assert!(rejoin.members.contains_key("new") && rejoin.members.contains_key("k00000"));
        let own = load(&path, false).unwrap();
        assert!(own.cut.is_none());
        assert_eq!(own.members.keys().collect::<Vec<_>>(), ["k00000", "new"]);
        // The compaction at the next start keeps the same members.
        let (snap, _) = Snapshot::open(&path, false, "me").unwrap();
        drop(snap);
        let again = load(&path, true).unwrap();
        assert!(again.cut.is_none());
        assert_eq!(again.members, rejoin.members);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn writer_appends_compacts_and_reopens() {
        let dir = std::env::temp_dir().join(format!("swim-snap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("snap");
        let _ = std::fs::remove_file(&path);
        let (mut snap, loaded) = Snapshot::open(&path, false, "me").unwrap();
        assert!(loaded.members.is_empty());
        // Enough churn to compact several times.
        let mut model = BTreeMap::new();
        for i in 0..3000u16 {
            let name = format!("m{}", i % 10);
            snap.record(alive(&name, 1000 + i), BTreeMap::new);
            model.insert(name.clone(), addr(1000 + i));
            if i % 7 == 0 {
                snap.record(Record::Gone { name: name.clone() }, BTreeMap::new);
                model.remove(&name);
            }
        }
        snap.record(alive("me", 1), BTreeMap::new);
        snap.close();
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size < 2 * COMPACT_MIN, "compacted: {size} bytes");
        let loaded = load(&path, false).unwrap();
        assert_eq!(loaded.cut, None);
        let mut with_me = model.clone();
        with_me.insert("me".to_string(), addr(1));
        assert_eq!(loaded.members, with_me);
        let (_, reopened) = Snapshot::open(&path, false, "me").unwrap();
        assert_eq!(reopened.members, model);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The event floor is the highest recorded, survives a leave and
    /// every compaction (the writer's and the one at open), and a lower
    /// one is not written.
    #[test]
    fn the_event_floor_survives_leaves_and_compactions() {
        let records = [
            Record::Events { floor: 5 },
            alive("a", 1),
            Record::Events { floor: 3 },
            Record::Leave,
        ];
        let loaded = parse(&file(&records), false);
        assert_eq!((loaded.event_floor, loaded.left), (5, true));
        assert!(
            loaded.members.is_empty(),
            "the leave still forgets the members"
        );

        let dir = std::env::temp_dir().join(format!("swim-snap-floor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("snap");
        let (mut snap, _) = Snapshot::open(&path, false, "me").unwrap();
        snap.record(Record::Events { floor: 9 }, BTreeMap::new);
        snap.record(Record::Events { floor: 4 }, BTreeMap::new);
        for i in 0..3000 {
            // Enough to compact at least once.
            snap.record(alive(&format!("m{i}"), 2), BTreeMap::new);
            snap.record(
                Record::Gone {
                    name: format!("m{i}"),
                },
                BTreeMap::new,
            );
        }
        snap.close();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(r#""floor":4"#),
            "a lower floor is not written"
        );
        assert_eq!(
            load(&path, false).unwrap().event_floor,
            9,
            "after the writer compacted"
        );
        let (mut again, loaded) = Snapshot::open(&path, false, "me").unwrap();
        assert_eq!(loaded.event_floor, 9);
        again.close();
        assert_eq!(
            load(&path, false).unwrap().event_floor,
            9,
            "after the compaction at open"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
