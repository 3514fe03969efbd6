//! Streams over TCP: conversations of length-delimited frames.
//!
//! A frame is a `u32` big-endian length followed by that many bytes. Every
//! step (connect, each frame's read, each frame's write) has a timeout, and a
//! frame larger than the configured limit ends the stream.
//!
//! What peers can make the agent hold is bounded: a frame is read as its
//! bytes arrive (never allocated at its announced size), each 64 KiB chunk
//! taken from a byte budget shared by every stream and returned once the
//! node task has the frame; at most [`MAX_INCOMING`] streams are served at
//! once, at most [`MAX_STREAMS_PER_PEER`] from one IP address.
//!
//! A slot is only held for good by a stream whose peer proved itself: until
//! the node answers its first frame (which it does only when the frame
//! opened under a key, or decoded on a plain cluster), a stream is on
//! probation. Its first frame must start within [`FIRST_FRAME_WAIT`] and
//! arrive whole within a deadline that grows with the length it announces
//! ([`first_frame_limit`]); and when the slots (all of them, or its IP
//! address's) are taken, a new stream takes the slot of the oldest stream
//! still on probation. So idle or slow connections, from however many
//! addresses, cannot keep a member's join out: they are reclaimed first.

use crate::driver::{Shared, StreamMsg};
use bytes::Bytes;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use swim_core::StreamId;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;

/// Most incoming streams served at once; more wait in the listen backlog.
pub(crate) const MAX_INCOMING: usize = 64;

/// Most incoming streams served at once from one IP address; more are
/// closed as soon as they are accepted.
pub(crate) const MAX_STREAMS_PER_PEER: usize = 16;

/// Bytes read into a frame per step of the budget.
const CHUNK: usize = 64 << 10;

/// Why a frame could not be read.
#[derive(Debug)]
pub(crate) enum FrameError {
    Io(io::Error),
    TooLarge(u64),
    Timeout,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "{e}"),
            FrameError::TooLarge(n) => write!(f, "frame of {n} bytes is over the limit"),
            FrameError::Timeout => f.write_str("timed out"),
        }
    }
}

async fn within<T>(
    limit: Duration,
    f: impl std::future::Future<Output = io::Result<T>>,
) -> Result<T, FrameError> {
    match timeout(limit, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(FrameError::Io(e)),
        Err(_) => Err(FrameError::Timeout),
    }
}

/// Reads one frame of at most `max` bytes; `None` when the peer closed
/// the stream between two frames. The frame's bytes are taken from
/// `budget` (one permit per KiB) as they arrive; the permit comes back
/// with the frame, to be dropped once the frame is handed on. The whole
/// frame (including waits for the budget) must arrive within `limit`; an
/// accepted stream's `first` frame within the shorter deadlines of a
/// stream on probation ([`FIRST_FRAME_WAIT`] for its length, then
/// [`first_frame_limit`]).
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
    limit: Duration,
    first: bool,
    budget: &Arc<Semaphore>,
) -> Result<Option<(Bytes, Option<OwnedSemaphorePermit>)>, FrameError> {
    let mut head = [0u8; 4];
    let len = if first {
        let head_read = async {
            let n = r.read(&mut head).await?;
            if n > 0 {
                r.read_exact(&mut head[n..]).await?;
            }
            Ok::<_, io::Error>(n)
        };
        if within(FIRST_FRAME_WAIT.min(limit), head_read).await? == 0 {
            return Ok(None);
        }
        u32::from_be_bytes(head)
    } else {
        let first = within(limit, r.read(&mut head)).await?;
        if first == 0 {
            return Ok(None);
        }
        within(limit, r.read_exact(&mut head[first..])).await?;
        u32::from_be_bytes(head)
    };
    if len as u64 > max as u64 {
        return Err(FrameError::TooLarge(len.into()));
    }
    let limit = if first {
        first_frame_limit(len as usize, limit)
    } else {
        limit
    };
    let len = len as usize;
    let body = async {
        let mut buf: Vec<u8> = Vec::new();
        let mut held: Option<OwnedSemaphorePermit> = None;
        while buf.len() < len {
            let chunk = (len - buf.len()).min(CHUNK);
            let kib = u32::try_from(chunk.div_ceil(1024)).unwrap_or(u32::MAX);
            let permit = budget
                .clone()
                .acquire_many_owned(kib)
                .await
                .map_err(|_| io::Error::other("stream budget closed"))?;
            match &mut held {
                Some(h) => h.merge(permit),
                None => held = Some(permit),
            }
            // Grow by doubling, never past the frame: memory follows the
            // bytes that arrived, not the length the peer announced.
            let start = buf.len();
            if buf.capacity() < start + chunk {
                let want = (2 * buf.capacity()).clamp(start + chunk, len);
                buf.reserve_exact(want - start);
            }
            buf.resize(start + chunk, 0);
            r.read_exact(&mut buf[start..]).await?;
        }
        Ok::<_, io::Error>((Bytes::from(buf), held))
    };
    within(limit, body).await.map(Some)
}

/// Writes one frame (the caller never passes more than `u32::MAX` bytes).
pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    bytes: &[u8],
    limit: Duration,
) -> Result<(), FrameError> {
    let len = u32::try_from(bytes.len()).map_err(|_| FrameError::TooLarge(bytes.len() as u64))?;
    let mut head = len.to_be_bytes().to_vec();
    head.extend_from_slice(bytes);
    within(limit, w.write_all(&head)).await?;
    within(limit, w.flush()).await
}

/// Frames the node may queue on one stream before the stream counts as stuck.
pub(crate) const MAX_QUEUED_FRAMES: usize = 16;

/// Opens a stream to `to` for the node's stream `id` and carries the
/// conversation (see [`converse`]).
pub(crate) async fn open(
    id: StreamId,
    to: SocketAddr,
    writes: mpsc::Receiver<Bytes>,
    shared: Arc<Shared>,
    tx: mpsc::Sender<StreamMsg>,
) {
    shared.counters.streams_out.fetch_add(1, Relaxed);
    match within(shared.stream_timeout, TcpStream::connect(to)).await {
        Ok(sock) => converse(id, sock, to, writes, shared, tx).await,
        Err(e) => {
            shared.count_stream_error(&e);
            tracing::debug!(%to, error = %e, "opening a stream failed");
            let _ = tx.send(StreamMsg::Closed { id }).await;
        }
    }
}

/// Longest wait for the first bytes of an accepted stream's first frame.
pub(crate) const FIRST_FRAME_WAIT: Duration = Duration::from_secs(1);

/// The slowest a first frame may arrive: bytes per second beyond
/// [`FIRST_FRAME_WAIT`] (a 1 MiB frame gets 16 s more).
const FIRST_FRAME_RATE: u64 = 64 << 10;

/// How long an accepted stream's first frame of `len` bytes may take to
/// arrive whole: [`FIRST_FRAME_WAIT`] plus a second per 64 KiB, never more
/// than the stream timeout `cap`.
pub(crate) fn first_frame_limit(len: usize, cap: Duration) -> Duration {
    let extra = Duration::from_millis((len as u64).saturating_mul(1000) / FIRST_FRAME_RATE);
    (FIRST_FRAME_WAIT + extra).min(cap)
}

/// One accepted stream in the slot table.
struct Held {
    ip: IpAddr,
    since: std::time::Instant,
    /// The node answered it: its peer holds a key (or, on a plain
    /// cluster, speaks the protocol).
    trusted: bool,
    /// Told when the slot is taken back.
    evict: Arc<tokio::sync::Notify>,
}

#[derive(Default)]
struct Table {
    held: HashMap<StreamId, Held>,
    per_ip: HashMap<IpAddr, usize>,
}

impl Table {
    /// The oldest stream on probation, among those from `ip` if given.
    fn oldest_untrusted(&self, ip: Option<IpAddr>) -> Option<StreamId> {
        self.held
            .iter()
            .filter(|(_, h)| !h.trusted && ip.is_none_or(|ip| h.ip == ip))
            .min_by_key(|(id, h)| (h.since, id.as_u64()))
            .map(|(id, _)| *id)
    }

    fn remove(&mut self, id: StreamId) -> Option<Held> {
        let h = self.held.remove(&id)?;
        if let Some(n) = self.per_ip.get_mut(&h.ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&h.ip);
            }
        }
        Some(h)
    }

    /// Whether a new stream could get a slot now (perhaps by evicting one).
    fn has_room(&self) -> bool {
        self.held.len() < MAX_INCOMING || self.held.values().any(|h| !h.trusted)
    }
}

/// The incoming stream slots: [`MAX_INCOMING`] in all,
/// [`MAX_STREAMS_PER_PEER`] per IP address; streams on probation give
/// theirs up first (see the module docs).
#[derive(Default)]
pub(crate) struct Slots {
    table: std::sync::Mutex<Table>,
    freed: tokio::sync::Notify,
}

/// What [`Slots::admit`] decided.
enum Admit {
    /// The stream has a slot; `evict` is told if it is taken back.
    Yes { evict: Arc<tokio::sync::Notify> },
    /// Every slot of its address is held by a trusted stream.
    PeerFull,
    /// Every slot is held by a trusted stream.
    Full,
}

impl Slots {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The node answered stream `id`: it keeps its slot until it ends.
    pub(crate) fn trust(&self, id: StreamId) {
        if let Some(h) = self.lock().held.get_mut(&id) {
            h.trusted = true;
        }
    }

    /// Gives stream `id` from `ip` a slot, evicting the oldest stream on
    /// probation (of `ip` if its address is at its limit, else of anyone
    /// if every slot is taken). Returns how many were evicted too.
    fn admit(&self, id: StreamId, ip: IpAddr) -> (Admit, u64) {
        let mut t = self.lock();
        let mut evicted = 0;
        if t.per_ip.get(&ip).copied().unwrap_or(0) >= MAX_STREAMS_PER_PEER {
            match t.oldest_untrusted(Some(ip)).and_then(|old| t.remove(old)) {
                Some(h) => {
                    h.evict.notify_one();
                    evicted += 1;
                }
                None => return (Admit::PeerFull, evicted),
            }
        }
        if t.held.len() >= MAX_INCOMING {
            match t.oldest_untrusted(None).and_then(|old| t.remove(old)) {
                Some(h) => {
                    h.evict.notify_one();
                    evicted += 1;
                }
                None => return (Admit::Full, evicted),
            }
        }
        let evict = Arc::new(tokio::sync::Notify::new());
        t.held.insert(
            id,
            Held {
                ip,
                since: std::time::Instant::now(),
                trusted: false,
                evict: evict.clone(),
            },
        );
        *t.per_ip.entry(ip).or_insert(0) += 1;
        (Admit::Yes { evict }, evicted)
    }

    /// Stream `id` ended: its slot is free (if it still held one).
    fn release(&self, id: StreamId) {
        if self.lock().remove(id).is_some() {
            self.freed.notify_one();
        }
    }

    /// Waits until a new stream could get a slot.
    async fn room(&self) {
        loop {
            if self.lock().has_room() {
                return;
            }
            self.freed.notified().await;
        }
    }
}

/// Gives a stream's slot back when its task ends (or is dropped).
struct SlotGuard {
    shared: Arc<Shared>,
    id: StreamId,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.shared.slots.release(self.id);
    }
}

/// Accepts peers' streams until the node task goes away.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tx: mpsc::Sender<StreamMsg>,
) {
    let mut accepted = 0u64;
    loop {
        // While every slot is held by a trusted stream, new ones wait in
        // the listen backlog.
        tokio::select! {
            () = shared.slots.room() => {}
            () = tx.closed() => return,
        }
        let (sock, from) = tokio::select! {
            r = listener.accept() => match r {
                Ok(v) => v,
                Err(e) => {
                    shared.counters.accept_errors.fetch_add(1, Relaxed);
                    tracing::warn!(error = %e, "accepting a stream failed");
                    // EMFILE and friends: give the system a moment.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = tx.closed() => return,
        };
        accepted += 1;
        let id = StreamId::accepted(accepted);
        let (admit, evicted) = shared.slots.admit(id, from.ip());
        shared.counters.streams_evicted.fetch_add(evicted, Relaxed);
        let evict = match admit {
            Admit::Yes { evict } => evict,
            Admit::PeerFull | Admit::Full => {
                shared.counters.streams_refused.fetch_add(1, Relaxed);
                tracing::debug!(%from, "no stream slot free for this peer: closed");
                continue;
            }
        };
        let guard = SlotGuard {
            shared: shared.clone(),
            id,
        };
        let (shared, tx2) = (shared.clone(), tx.clone());
        tokio::spawn(async move {
            let _guard = guard;
            shared.counters.streams_in.fetch_add(1, Relaxed);
            let (writer, writes) = mpsc::channel(MAX_QUEUED_FRAMES);
            if tx2.send(StreamMsg::Accepted { id, writer }).await.is_ok() {
                tokio::select! {
                    () = converse(id, sock, from, writes, shared.clone(), tx2.clone()) => {}
                    () = evict.notified() => {
                        tracing::debug!(%from, "stream on probation closed: its slot went to a newer one");
                        let _ = tx2.send(StreamMsg::Closed { id }).await;
                    }
                }
            }
        });
        // Let the streams already accepted (and the node task) run before
        // the next accept: a member's first frame, already sent, is read
        // and answered before a burst of new connections could evict it.
        tokio::task::yield_now().await;
    }
}

/// Carries one conversation: every frame the peer sends goes to the node
/// task, every frame the node queues in `writes` goes to the peer. Each
/// frame has its own deadline. It ends when the node closes the stream
/// (`writes` closed and drained: the write side is shut down), or when
/// the peer closes it or it fails, which the node hears as
/// [`StreamMsg::Closed`].
async fn converse(
    id: StreamId,
    sock: TcpStream,
    peer: SocketAddr,
    mut writes: mpsc::Receiver<Bytes>,
    shared: Arc<Shared>,
    tx: mpsc::Sender<StreamMsg>,
) {
    // Conversations are a few frames each way: no point in Nagle's delay.
    let _ = sock.set_nodelay(true);
    let limit = shared.stream_timeout;
    let (mut r, mut w) = sock.into_split();
    let reading = async {
        let budget = &shared.budget;
        // A peer's stream is on probation until the node answers it.
        let mut first = id.is_accepted();
        while let Some((bytes, held)) =
            read_frame(&mut r, shared.max_frame, limit, first, budget).await?
        {
            first = false;
            let frame = StreamMsg::Frame {
                id,
                from: peer,
                bytes,
            };
            if tx.send(frame).await.is_err() {
                break;
            }
            // The node task has the frame now (a full channel held us here).
            drop(held);
        }
        Ok::<(), FrameError>(())
    };
    let writing = async {
        while let Some(bytes) = writes.recv().await {
            write_frame(&mut w, &bytes, limit).await?;
        }
        let _ = timeout(limit, w.shutdown()).await;
        Ok::<(), FrameError>(())
    };
    let failed = tokio::select! {
        r = reading => Some(r),
        w = writing => w.err().map(Err),
    };
    if let Some(outcome) = failed {
        if let Err(e) = &outcome {
            shared.count_stream_error(e);
            tracing::debug!(%peer, error = %e, "stream failed");
        }
        let _ = tx.send(StreamMsg::Closed { id }).await;
    }
}
