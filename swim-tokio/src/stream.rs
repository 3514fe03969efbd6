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
/// frame (including waits for the budget) must arrive within `limit`.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
    limit: Duration,
    budget: &Arc<Semaphore>,
) -> Result<Option<(Bytes, Option<OwnedSemaphorePermit>)>, FrameError> {
    let mut head = [0u8; 4];
    let first = within(limit, r.read(&mut head)).await?;
    if first == 0 {
        return Ok(None);
    }
    within(limit, r.read_exact(&mut head[first..])).await?;
    let len = u32::from_be_bytes(head);
    if len as u64 > max as u64 {
        return Err(FrameError::TooLarge(len.into()));
    }
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

/// Accepts peers' streams until the node task goes away.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tx: mpsc::Sender<StreamMsg>,
) {
    let permits = Arc::new(Semaphore::new(MAX_INCOMING));
    let per_peer: Arc<std::sync::Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    let mut accepted = 0u64;
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
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
        let Some(slot) = PeerSlot::take(&per_peer, from.ip()) else {
            shared.counters.streams_refused.fetch_add(1, Relaxed);
            tracing::debug!(%from, "too many streams from this peer: closed");
            continue;
        };
        accepted += 1;
        let id = StreamId::accepted(accepted);
        let (shared, tx) = (shared.clone(), tx.clone());
        tokio::spawn(async move {
            shared.counters.streams_in.fetch_add(1, Relaxed);
            let (writer, writes) = mpsc::channel(MAX_QUEUED_FRAMES);
            if tx.send(StreamMsg::Accepted { id, writer }).await.is_ok() {
                converse(id, sock, from, writes, shared, tx).await;
            }
            drop((permit, slot));
        });
    }
}

/// One of a peer's [`MAX_STREAMS_PER_PEER`] stream slots, given back on drop.
struct PeerSlot {
    table: Arc<std::sync::Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl PeerSlot {
    fn take(table: &Arc<std::sync::Mutex<HashMap<IpAddr, usize>>>, ip: IpAddr) -> Option<Self> {
        let mut t = table.lock().unwrap_or_else(|e| e.into_inner());
        let n = t.entry(ip).or_insert(0);
        if *n >= MAX_STREAMS_PER_PEER {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            table: table.clone(),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = t.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                t.remove(&self.ip);
            }
        }
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
        while let Some((bytes, held)) = read_frame(&mut r, shared.max_frame, limit, budget).await? {
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
