//! The local link between a client and its node, shared by the client core and the node.
//!
//! Relay v1 runs over TCP on loopback (127.0.0.1, then `[::1]`), as it always has, so every old
//! client works. On Linux the node also listens on an *abstract* Unix socket named after its relay
//! port, `@iris-relay-PORT`, and this core tries it first: the same relay v1 octets, but without
//! the TCP/IP stack in between, which roughly halves the kernel's work per octet on the busiest
//! path of a tunnel. Abstract names live in the network namespace, exactly like loopback, so a
//! client inside a namespace reaches the node of that namespace and nothing else; they leave no
//! file behind when the node dies. When the socket is absent (another OS, an old node, or a node
//! started with `--no-unix-relay`) the client silently uses TCP.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{tcp, TcpStream};
#[cfg(target_os = "linux")]
use tokio::net::{unix, UnixStream};

/// Runs `$body` on whichever transport `$value` (a [`Stream`], [`ReadHalf`] or [`WriteHalf`])
/// holds, bound to `$v`: the arms differ only in the type of `$v`.
macro_rules! either {
    ($value:expr, $enum:ident, $v:ident => $body:expr) => {
        match $value {
            $enum::Tcp($v) => $body,
            #[cfg(target_os = "linux")]
            $enum::Unix($v) => $body,
        }
    };
}

/// The abstract Unix socket name of the relay on `port`, as shown in logs (`@` stands for the
/// leading NUL of an abstract name).
pub fn unix_relay_name(port: u16) -> String {
    format!("@iris-relay-{port}")
}

/// The address to bind or connect for [`unix_relay_name`]: tokio reads a leading NUL as "abstract".
#[cfg(target_os = "linux")]
pub fn unix_relay_path(port: u16) -> String {
    format!("\0iris-relay-{port}")
}

/// Which transport a stream runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// TCP on a loopback address.
    Tcp,
    /// The node's abstract Unix socket.
    Unix,
}

/// A connected local stream, either transport.
#[derive(Debug)]
pub enum Stream {
    /// TCP on loopback.
    Tcp(TcpStream),
    /// The abstract Unix socket (Linux).
    #[cfg(target_os = "linux")]
    Unix(UnixStream),
}

impl Stream {
    /// Connects to the node whose relay listens on `port` of this host: its Unix socket where
    /// there is one, else TCP on 127.0.0.1, else `[::1]`. The error is the IPv4 one.
    pub async fn connect_local(port: u16) -> io::Result<Stream> {
        #[cfg(target_os = "linux")]
        if let Ok(stream) = UnixStream::connect(unix_relay_path(port)).await {
            return Ok(Stream::Unix(stream));
        }
        let stream = match TcpStream::connect(("127.0.0.1", port)).await {
            Ok(s) => s,
            Err(v4) => TcpStream::connect(("::1", port)).await.map_err(|_| v4)?,
        };
        // Frames are coalesced by the writers already; Nagle would only add latency.
        stream.set_nodelay(true)?;
        Ok(Stream::Tcp(stream))
    }

    /// Which transport this is.
    pub fn kind(&self) -> Kind {
        match self {
            Stream::Tcp(_) => Kind::Tcp,
            #[cfg(target_os = "linux")]
            Stream::Unix(_) => Kind::Unix,
        }
    }

    /// Splits into halves that can be used from different tasks.
    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        match self {
            Stream::Tcp(s) => {
                let (r, w) = s.into_split();
                (ReadHalf::Tcp(r), WriteHalf::Tcp(w))
            }
            #[cfg(target_os = "linux")]
            Stream::Unix(s) => {
                let (r, w) = s.into_split();
                (ReadHalf::Unix(r), WriteHalf::Unix(w))
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        either!(self.get_mut(), Stream, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        either!(self.get_mut(), Stream, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        either!(self.get_mut(), Stream, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        either!(self.get_mut(), Stream, s => Pin::new(s).poll_shutdown(cx))
    }
}

/// The reading half of a [`Stream`].
#[derive(Debug)]
pub enum ReadHalf {
    /// TCP on loopback.
    Tcp(tcp::OwnedReadHalf),
    /// The abstract Unix socket.
    #[cfg(target_os = "linux")]
    Unix(unix::OwnedReadHalf),
}

impl AsyncRead for ReadHalf {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        either!(self.get_mut(), ReadHalf, r => Pin::new(r).poll_read(cx, buf))
    }
}

/// The writing half of a [`Stream`]: non-blocking writes from any thread, readiness for the
/// writer task. Dropping it shuts the sending side down (FIN / end of stream).
#[derive(Debug)]
pub enum WriteHalf {
    /// TCP on loopback.
    Tcp(tcp::OwnedWriteHalf),
    /// The abstract Unix socket.
    #[cfg(target_os = "linux")]
    Unix(unix::OwnedWriteHalf),
}

impl WriteHalf {
    /// Writes what the socket takes now, without waiting (`WouldBlock` when it takes nothing).
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        either!(self, WriteHalf, w => w.try_write(buf))
    }

    /// [`try_write`](Self::try_write) from several buffers in order, in one system call.
    pub fn try_write_vectored(&self, bufs: &[std::io::IoSlice<'_>]) -> io::Result<usize> {
        either!(self, WriteHalf, w => w.try_write_vectored(bufs))
    }

    /// Waits until the socket may take more.
    pub async fn writable(&self) -> io::Result<()> {
        either!(self, WriteHalf, w => w.writable().await)
    }

    /// Polls for write readiness (registers the waker when not ready).
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        either!(self, WriteHalf, w => w.as_ref().poll_write_ready(cx))
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        either!(self.get_mut(), WriteHalf, w => Pin::new(w).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        either!(self.get_mut(), WriteHalf, w => Pin::new(w).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        either!(self.get_mut(), WriteHalf, w => Pin::new(w).poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo_once(mut s: Stream) {
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).await.unwrap();
        s.write_all(&buf).await.unwrap();
    }

    async fn round_trip(port: u16) -> Kind {
        let s = Stream::connect_local(port).await.expect("connect");
        let kind = s.kind();
        let (mut r, w) = s.into_split();
        let mut sent = 0;
        while sent < 5 {
            match w.try_write(&b"hello"[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => w.writable().await.unwrap(),
                Err(e) => panic!("write: {e}"),
            }
        }
        let mut back = [0u8; 5];
        r.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"hello");
        kind
    }

    #[tokio::test]
    async fn tcp_is_used_when_there_is_no_unix_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move { echo_once(Stream::Tcp(listener.accept().await.unwrap().0)).await });
        assert_eq!(round_trip(port).await, Kind::Tcp);
        server.await.unwrap();
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_unix_socket_is_preferred_where_the_node_has_one() {
        // A TCP listener reserves the port number; the abstract socket named after it is the one
        // the client must pick.
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        let unix = tokio::net::UnixListener::bind(unix_relay_path(port)).expect("abstract bind");
        let server = tokio::spawn(async move { echo_once(Stream::Unix(unix.accept().await.unwrap().0)).await });
        assert_eq!(round_trip(port).await, Kind::Unix);
        server.await.unwrap();
        drop(tcp);
    }
}
