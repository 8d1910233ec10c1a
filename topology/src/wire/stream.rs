//! One plaintext connection owned by one caller: no driver task, no channel.
//!
//! redis-rs's `MultiplexedConnection` lets many tasks share a socket: each
//! request goes through a channel to a driver task that writes and reads,
//! and the answer comes back through a oneshot. That is two task wakeups
//! and a `writev` per request, which on a 20 µs loopback round trip is a
//! large part of the client's CPU. A load-test user sends one request at a
//! time and waits for it, so it can own the socket outright:
//! [`WireConnection`] packs the command into a reused buffer, writes it
//! with one `write`, reads into a reused buffer until [`frame_len`] says a
//! reply is whole, and lets redis-rs's own parser build the value.
//!
//! It keeps what the toolkit's other connections promise: a response
//! timeout on every exchange, the reply cap of [`crate::capped`] (bytes read
//! since the last write), the same handshake (AUTH, SELECT, PING), and
//! failures that redis-rs's predicates classify the same way (I/O, timeout,
//! dropped). A connection whose exchange did not finish (an error, a
//! timeout, or a caller that dropped the future) is poisoned: every later
//! command fails at once, and the caller reconnects.

use super::frame::{decode_simple, frame_len};
use crate::capped::{too_large, MAX_REPLY_BYTES};
use crate::client::{classify, is_noauth, ClientError, Timeouts};
use crate::target::Target;
use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use std::io;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;

/// Reads ask for at least this much room: a typical reply fits in one read.
const READ_CHUNK: usize = 16 * 1024;

/// A plaintext connection to one server, used by one task at a time.
pub struct WireConnection {
    stream: TcpStream,
    out: Vec<u8>,
    input: Vec<u8>,
    /// Bytes of `input` already handed out as replies.
    consumed: usize,
    /// Bytes read since the last write: the cap's measure.
    since_write: usize,
    cap: usize,
    parser: redis::Parser,
    response_timeout: Duration,
    db: i64,
    /// Set while an exchange is under way and left set when it fails.
    poisoned: bool,
}

impl WireConnection {
    /// Connects, authenticates (AUTH with the target's user and password),
    /// selects its database and proves it answers (PING), each step bounded
    /// by `timeouts`, with errors classified as [`crate::client::connect`]
    /// classifies them.
    pub async fn open(target: &Target, timeouts: &Timeouts) -> Result<Self, ClientError> {
        Self::open_capped(target, timeouts, MAX_REPLY_BYTES).await
    }

    /// [`Self::open`] with another reply cap (tests use a small one).
    pub async fn open_capped(
        target: &Target,
        timeouts: &Timeouts,
        cap: usize,
    ) -> Result<Self, ClientError> {
        let connecting = TcpStream::connect((target.host.as_str(), target.port));
        let stream = match tokio::time::timeout(timeouts.connect, connecting).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(classify(target, &e.into(), timeouts.connect)),
            Err(_) => {
                return Err(ClientError::Timeout {
                    address: target.address(),
                    timeout: timeouts.connect,
                })
            }
        };
        // Small request/reply exchanges: do not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let mut conn = Self {
            stream,
            out: Vec::with_capacity(256),
            input: Vec::with_capacity(READ_CHUNK),
            consumed: 0,
            since_write: 0,
            cap,
            parser: redis::Parser::new(),
            response_timeout: timeouts.response,
            db: target.db,
            poisoned: false,
        };
        let fail = |e: RedisError| classify(target, &e, timeouts.response);
        if let Some(password) = &target.password {
            let mut auth = redis::cmd("AUTH");
            if let Some(user) = &target.user {
                auth.arg(user);
            }
            auth.arg(password.expose());
            let reply = conn.req_packed_command(&auth).await.map_err(fail)?;
            reply.extract_error().map_err(fail)?;
        }
        if target.db != 0 {
            let reply = conn
                .req_packed_command(redis::cmd("SELECT").arg(target.db))
                .await
                .map_err(fail)?;
            reply.extract_error().map_err(fail)?;
        }
        let ping = conn.req_packed_command(&redis::cmd("PING")).await;
        match ping.and_then(Value::extract_error) {
            Ok(_) => Ok(conn),
            // As for `connect`: an anonymous connection to an ACL-protected
            // server is what a caller testing strangers' rights asked for.
            Err(e) if is_noauth(&e) && target.password.is_none() => Ok(conn),
            Err(e) => Err(fail(e)),
        }
    }

    /// Fails at once on a poisoned connection; else poisons it until the
    /// exchange that starts now ends well ([`Self::end`]).
    fn begin(&mut self) -> RedisResult<Duration> {
        if self.poisoned {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the connection failed earlier; reconnect",
            )
            .into());
        }
        self.poisoned = true;
        Ok(self.response_timeout)
    }

    fn end<T>(
        &mut self,
        bounded: Result<RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> RedisResult<T> {
        match bounded {
            Ok(Ok(v)) => {
                self.poisoned = false;
                Ok(v)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::from(io::ErrorKind::TimedOut).into()),
        }
    }

    async fn write_out(&mut self) -> RedisResult<()> {
        if self.input.is_empty() {
            // Every reply asked for so far has been read, and a RESP2 server
            // sends nothing unasked, so the socket is empty: forget its
            // stale read readiness now, before the request goes out, and
            // the reply is awaited at once instead of after a read that
            // would only say EAGAIN (one syscall per command saved). Any
            // byte that arrives from here on sets readiness again.
            let _ = self.stream.try_io(Interest::READABLE, || {
                Err::<(), _>(io::ErrorKind::WouldBlock.into())
            });
        }
        self.stream.write_all(&self.out).await?;
        self.since_write = 0;
        Ok(())
    }

    /// Writes `out` and reads one reply (none for a no-response command).
    async fn exchange_one(&mut self, reply: bool) -> RedisResult<Value> {
        let timeout = self.begin()?;
        let bounded = tokio::time::timeout(timeout, async {
            self.write_out().await?;
            if reply {
                self.read_reply().await
            } else {
                Ok(Value::Nil)
            }
        })
        .await;
        self.end(bounded)
    }

    /// Writes `out` and reads `replies` replies.
    async fn exchange_many(&mut self, replies: usize) -> RedisResult<Vec<Value>> {
        let timeout = self.begin()?;
        let bounded = tokio::time::timeout(timeout, async {
            self.write_out().await?;
            let mut values = Vec::with_capacity(replies);
            for _ in 0..replies {
                values.push(self.read_reply().await?);
            }
            Ok(values)
        })
        .await;
        self.end(bounded)
    }

    async fn read_reply(&mut self) -> RedisResult<Value> {
        loop {
            let pending = &self.input[self.consumed..];
            match frame_len(pending) {
                Ok(Some(n)) => {
                    let frame = &pending[..n];
                    let parsed = match decode_simple(frame) {
                        Some(v) => Ok(v),
                        None => self.parser.parse_value(frame),
                    };
                    self.consumed += n;
                    if self.consumed == self.input.len() {
                        self.input.clear();
                        self.consumed = 0;
                    }
                    if parsed.is_err() {
                        // Its state after a failed parse is unknown.
                        self.parser = redis::Parser::new();
                    }
                    return parsed;
                }
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e).into()),
            }
            if self.consumed > 0 {
                self.input.drain(..self.consumed);
                self.consumed = 0;
            }
            // Room for at least a chunk, and doubling for a large reply so
            // it is scanned O(log n) times, not once per chunk.
            let want = READ_CHUNK.max(self.input.len());
            if self.input.capacity() - self.input.len() < want {
                self.input.reserve(want);
            }
            self.stream.readable().await?;
            let n = match self.stream.try_read_buf(&mut self.input) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                )
                .into());
            }
            self.since_write += n;
            if self.since_write > self.cap {
                return Err(too_large(self.cap).into());
            }
        }
    }
}

impl ConnectionLike for WireConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            self.out.clear();
            cmd.write_packed_command(&mut self.out);
            self.exchange_one(!cmd.is_no_response()).await
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            self.out.clear();
            let atomic = pipeline.is_transaction();
            if atomic {
                redis::cmd("MULTI").write_packed_command(&mut self.out);
            }
            for cmd in pipeline.cmd_iter() {
                cmd.write_packed_command(&mut self.out);
            }
            if atomic {
                redis::cmd("EXEC").write_packed_command(&mut self.out);
            }
            let mut values = self.exchange_many(offset + count).await?;
            let kept = values.split_off(offset.min(values.len()));
            if atomic {
                // A command refused while queueing (the replies skipped
                // between MULTI's +OK and EXEC) aborts the transaction, as
                // redis-rs reports it: the first refusal is the error.
                if let Some(Value::ServerError(e)) = values
                    .into_iter()
                    .find(|v| matches!(v, Value::ServerError(_)))
                {
                    return Err(e.into());
                }
            }
            Ok(kept)
        })
    }

    fn get_db(&self) -> i64 {
        self.db
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    /// A fake server that answers each read with the next canned reply.
    async fn serve(replies: Vec<&'static [u8]>) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            for r in replies {
                if s.read(&mut buf).await.unwrap_or(0) == 0 {
                    return;
                }
                // Byte by byte: the reader must put split frames together.
                for b in r {
                    s.write_all(&[*b]).await.unwrap();
                }
            }
            let _ = s.read(&mut buf).await;
        });
        port
    }

    fn target(port: u16) -> Target {
        Target::new("127.0.0.1", port, None, None)
    }

    const T: Timeouts = Timeouts {
        connect: Duration::from_secs(2),
        response: Duration::from_secs(2),
    };

    #[tokio::test]
    async fn split_replies_are_reassembled() {
        let port = serve(vec![b"+PONG\r\n", b"*2\r\n$1\r\na\r\n$-1\r\n"]).await;
        let mut c = WireConnection::open(&target(port), &T).await.unwrap();
        let v: (Option<String>, Option<String>) = redis::cmd("MGET")
            .arg("a")
            .arg("b")
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(v, (Some("a".into()), None));
    }

    #[tokio::test]
    async fn a_reply_over_the_cap_fails_and_poisons_the_connection() {
        let port = serve(vec![b"+PONG\r\n", b"$100\r\naaaaaaaaaa"]).await;
        let mut c = WireConnection::open_capped(&target(port), &T, 8)
            .await
            .unwrap();
        let e = redis::cmd("GET")
            .arg("k")
            .query_async::<Value>(&mut c)
            .await
            .unwrap_err();
        assert!(
            e.is_io_error() && e.to_string().contains("larger than"),
            "{e}"
        );
        let again = redis::cmd("PING")
            .query_async::<Value>(&mut c)
            .await
            .unwrap_err();
        assert!(again.is_connection_dropped(), "{again}");
    }

    #[tokio::test]
    async fn junk_is_a_protocol_error_not_a_hang() {
        let port = serve(vec![b"HTTP/1.1 400 Bad Request\r\n"]).await;
        let e = WireConnection::open(&target(port), &T)
            .await
            .err()
            .expect("an HTTP server is not Redis");
        assert!(matches!(e, ClientError::NotRedis { .. }), "{e}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let _keep = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(s);
        });
        let short = Timeouts {
            connect: Duration::from_secs(1),
            response: Duration::from_millis(200),
        };
        let started = std::time::Instant::now();
        let e = WireConnection::open(&target(port), &short)
            .await
            .err()
            .expect("no answer");
        assert!(matches!(e, ClientError::Timeout { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
