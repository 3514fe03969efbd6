//! Push-pull streams over TCP: one length-delimited frame each way.
//!
//! A frame is a `u32` big-endian length followed by that many bytes. Every
//! step (connect, write, read) has a timeout and a frame larger than the
//! configured limit ends the stream.

use crate::driver::{Shared, StreamMsg};
use bytes::Bytes;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use swim_core::StreamId;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::timeout;

/// Most incoming streams served at once; more wait in the listen backlog.
const MAX_INCOMING: usize = 64;

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

/// Reads one frame of at most `max` bytes.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
    limit: Duration,
) -> Result<Bytes, FrameError> {
    let len = within(limit, r.read_u32()).await?;
    if len as u64 > max as u64 {
        return Err(FrameError::TooLarge(len.into()));
    }
    let mut buf = vec![0u8; len as usize];
    within(limit, r.read_exact(&mut buf)).await?;
    Ok(buf.into())
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

/// Opens a stream to `to`, sends `bytes`, reads one reply frame and reports
/// the outcome to the node task.
pub(crate) async fn open(
    id: StreamId,
    to: SocketAddr,
    bytes: Bytes,
    shared: Arc<Shared>,
    tx: mpsc::Sender<StreamMsg>,
) {
    shared.counters.streams_out.fetch_add(1, Relaxed);
    let limit = shared.stream_timeout;
    let result = async {
        let mut s = within(limit, TcpStream::connect(to)).await?;
        // Streams are one request and one reply: no point in Nagle's delay.
        let _ = s.set_nodelay(true);
        write_frame(&mut s, &bytes, limit).await?;
        read_frame(&mut s, shared.max_frame, limit).await
    }
    .await;
    let msg = match result {
        Ok(bytes) => StreamMsg::Reply { id, bytes },
        Err(e) => {
            shared.count_stream_error(&e);
            tracing::debug!(%to, error = %e, "push-pull stream failed");
            StreamMsg::Failed { id }
        }
    };
    let _ = tx.send(msg).await;
}

/// Accepts peers' streams until the node task goes away.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tx: mpsc::Sender<StreamMsg>,
) {
    let permits = Arc::new(Semaphore::new(MAX_INCOMING));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let (sock, from) = tokio::select! {
            r = listener.accept() => match r {
                Ok(v) => v,
                Err(e) => {
                    shared.counters.accept_errors.fetch_add(1, Relaxed);
                    tracing::warn!(error = %e, "accepting a push-pull stream failed");
                    // EMFILE and friends: give the system a moment.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = tx.closed() => return,
        };
        let (shared, tx) = (shared.clone(), tx.clone());
        tokio::spawn(async move {
            serve(sock, from, shared, tx).await;
            drop(permit);
        });
    }
}

/// Reads a peer's request frame, hands it to the node and writes its reply.
async fn serve(
    mut sock: TcpStream,
    from: SocketAddr,
    shared: Arc<Shared>,
    tx: mpsc::Sender<StreamMsg>,
) {
    shared.counters.streams_in.fetch_add(1, Relaxed);
    let limit = shared.stream_timeout;
    let _ = sock.set_nodelay(true);
    let bytes = match read_frame(&mut sock, shared.max_frame, limit).await {
        Ok(b) => b,
        Err(e) => {
            shared.count_stream_error(&e);
            tracing::debug!(%from, error = %e, "incoming push-pull stream dropped");
            return;
        }
    };
    let (reply_tx, reply_rx) = oneshot::channel();
    if tx
        .send(StreamMsg::Request {
            from,
            bytes,
            reply: reply_tx,
        })
        .await
        .is_err()
    {
        return;
    }
    // The node answers at once; the timeout only guards against a stopped node.
    let reply = match timeout(limit, reply_rx).await {
        Ok(Ok(reply)) => reply,
        _ => return,
    };
    if let Err(e) = write_frame(&mut sock, &reply, limit).await {
        shared.count_stream_error(&e);
        tracing::debug!(%from, error = %e, "writing a push-pull reply failed");
        return;
    }
    let _ = timeout(limit, sock.shutdown()).await;
}
