//! A byte stream that bounds how much a server may send per request.
//!
//! redis-rs has no limit on a reply's size: its parser buffers a bulk
//! string of whatever length the header announces until the last byte
//! arrives, so a hostile or broken server announcing `$1073741824` and
//! streaming at loopback speed grows the client by a gigabyte before the
//! response timeout fires. [`Capped`] counts the bytes read since the
//! client last wrote; past the cap the read fails with an I/O error, which
//! ends the connection and fails the pending command at once.
//!
//! "Since the last write" bounds one reply on the request/reply traffic of
//! the toolkit (one command at a time per connection, or short pipelines);
//! it is not meant for long-lived subscriptions, which do not use it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The largest reply the toolkit accepts: far above the largest reply it
/// asks for (`COMMAND DOCS` on 7.x is about 0.5 MiB, INFO a few KiB) and far
/// below what would hurt the machine it runs on.
pub const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// A stream whose reads fail once `cap` bytes arrived without a write.
#[derive(Debug)]
pub struct Capped<S> {
    inner: S,
    cap: usize,
    since_write: usize,
}

impl<S> Capped<S> {
    /// Wraps `inner`, allowing at most `cap` bytes per reply.
    pub fn new(inner: S, cap: usize) -> Self {
        Self {
            inner,
            cap,
            since_write: 0,
        }
    }
}

/// The error a read returns past the cap; its text reaches the user.
pub fn too_large(cap: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "the server sent a reply larger than {} MiB; refusing to buffer it (a broken or hostile server)",
            cap / (1024 * 1024)
        ),
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for Capped<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.since_write >= self.cap {
            return Poll::Ready(Err(too_large(self.cap)));
        }
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            this.since_write += buf.filled().len() - before;
            if this.since_write > this.cap {
                return Poll::Ready(Err(too_large(this.cap)));
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Capped<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = &polled {
            if *n > 0 {
                this.since_write = 0;
            }
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_reply_past_the_cap_fails_and_a_write_resets_the_count() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let mut capped = Capped::new(client, 100);
        server.write_all(&[b'x'; 80]).await.unwrap();
        let mut buf = vec![0u8; 80];
        capped.read_exact(&mut buf).await.unwrap();
        // A new request: the next reply gets the whole budget again.
        capped.write_all(b"PING\r\n").await.unwrap();
        server.write_all(&[b'y'; 90]).await.unwrap();
        let mut buf = vec![0u8; 90];
        capped.read_exact(&mut buf).await.unwrap();
        server.write_all(&[b'z'; 20]).await.unwrap();
        let err = capped.read_exact(&mut [0u8; 20]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("larger than"), "{err}");
    }
}
