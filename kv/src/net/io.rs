//! Reading and writing [`Frame`]s on sockets, async (the node) and blocking (the client), with
//! timeouts. Both read the length prefix first and refuse an oversized frame before allocating
//! its body (see [`frame`](super::frame)).

use std::io::{self, Read, Write};
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::frame::{self, Frame, FrameError, LEN_PREFIX};

/// Why a frame could not be read or written. Any of these ends the connection.
#[derive(Debug, Error)]
pub enum IoError {
    /// The peer closed the connection between frames: a normal end.
    #[error("connection closed")]
    Closed,
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
}

/// Reads one frame. `idle` bounds the wait for a frame to start (a silent peer), `read` the
/// time to receive the rest once it has started (a stalled peer).
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    idle: Duration,
    read: Duration,
) -> Result<Frame, IoError> {
    let mut prefix = [0u8; LEN_PREFIX];
    // The first byte decides between "closed cleanly" and "closed mid-frame".
    let n = tokio::time::timeout(idle, r.read(&mut prefix[..1]))
        .await
        .map_err(|_| IoError::Timeout(idle))??;
    if n == 0 {
        return Err(IoError::Closed);
    }
    let body = tokio::time::timeout(read, async {
        r.read_exact(&mut prefix[1..]).await?;
        let len = frame::frame_len(&prefix)?.expect("a whole prefix");
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).await?;
        Ok::<_, IoError>(body)
    })
    .await
    .map_err(|_| IoError::Timeout(read))??;
    Ok(frame::decode_body(&body)?)
}

/// Writes already-encoded frames, bounded by `timeout` (a peer that stopped reading must not
/// stall the writer forever).
pub async fn write_bytes<W: AsyncWrite + Unpin>(
    w: &mut W,
    bytes: &[u8],
    timeout: Duration,
) -> Result<(), IoError> {
    tokio::time::timeout(timeout, w.write_all(bytes))
        .await
        .map_err(|_| IoError::Timeout(timeout))??;
    Ok(())
}

/// Blocking read of one frame; the socket's read timeout must already be set.
pub fn read_frame_blocking(r: &mut impl Read) -> Result<Frame, IoError> {
    let mut prefix = [0u8; LEN_PREFIX];
    r.read_exact(&mut prefix).map_err(blocking_err)?;
    let len = frame::frame_len(&prefix)?.expect("a whole prefix");
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).map_err(blocking_err)?;
    Ok(frame::decode_body(&body)?)
}

/// Blocking write of one frame; the socket's write timeout must already be set.
pub fn write_frame_blocking(w: &mut impl Write, f: &Frame) -> Result<(), IoError> {
    let bytes = frame::encode(f)?;
    w.write_all(&bytes).map_err(blocking_err)?;
    Ok(())
}

/// Socket timeouts surface as `WouldBlock` (Unix) or `TimedOut` (Windows).
fn blocking_err(e: io::Error) -> IoError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => IoError::Timeout(Duration::ZERO),
        io::ErrorKind::UnexpectedEof => IoError::Closed,
        _ => IoError::Io(e),
    }
}
