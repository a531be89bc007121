//! A connection that is plaintext TCP or TLS over TCP, and how clients open one.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::frame::{self, Frame};
use super::tls::{ClientSecurity, ClientTls, SERVER_NAME};

/// An async connection, either way.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

fn server_name() -> ServerName<'static> {
    ServerName::try_from(SERVER_NAME).expect("a valid DNS name")
}

/// The `Auth` frame a token client sends first, if it has a token.
fn auth_frame(tls: &ClientTls) -> io::Result<Option<Vec<u8>>> {
    tls.token
        .as_ref()
        .map(|t| frame::encode(&Frame::Auth { token: t.clone() }))
        .transpose()
        .map_err(io::Error::other)
}

/// Opens a client connection to `addr`: TCP, then (unless insecure) the TLS handshake checking
/// the server is a node of the CA's cluster, then the token if there is one. The caller bounds
/// the time.
pub async fn connect_client(addr: SocketAddr, sec: &ClientSecurity) -> io::Result<Stream> {
    use tokio::io::AsyncWriteExt;
    let tcp = TcpStream::connect(addr).await?;
    let _ = tcp.set_nodelay(true);
    match sec {
        ClientSecurity::Insecure => Ok(Stream::Plain(tcp)),
        ClientSecurity::Tls(tls) => {
            let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
            let mut s = connector.connect(server_name(), tcp).await?;
            if let Some(auth) = auth_frame(tls)? {
                s.write_all(&auth).await?;
            }
            Ok(Stream::Tls(Box::new(tokio_rustls::TlsStream::Client(s))))
        }
    }
}

/// A blocking client connection, either way.
pub enum BlockingStream {
    Plain(std::net::TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>>),
}

impl BlockingStream {
    /// The socket beneath (for its timeouts).
    pub fn tcp(&self) -> &std::net::TcpStream {
        match self {
            BlockingStream::Plain(s) => s,
            BlockingStream::Tls(s) => &s.sock,
        }
    }

    /// Opens a connection as [`connect_client`] does, each step bounded by `timeout`.
    pub fn connect(
        addr: SocketAddr,
        sec: &ClientSecurity,
        timeout: Duration,
    ) -> io::Result<BlockingStream> {
        let tcp = std::net::TcpStream::connect_timeout(&addr, timeout)?;
        let _ = tcp.set_nodelay(true);
        match sec {
            ClientSecurity::Insecure => Ok(BlockingStream::Plain(tcp)),
            ClientSecurity::Tls(tls) => {
                tcp.set_read_timeout(Some(timeout))?;
                tcp.set_write_timeout(Some(timeout))?;
                let conn = rustls::ClientConnection::new(tls.config.clone(), server_name())
                    .map_err(io::Error::other)?;
                let mut s = rustls::StreamOwned::new(conn, tcp);
                while s.conn.is_handshaking() {
                    s.conn.complete_io(&mut s.sock)?;
                }
                if let Some(auth) = auth_frame(tls)? {
                    s.write_all(&auth)?;
                    s.flush()?;
                }
                Ok(BlockingStream::Tls(Box::new(s)))
            }
        }
    }
}

impl Read for BlockingStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            BlockingStream::Plain(s) => s.read(buf),
            BlockingStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for BlockingStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            BlockingStream::Plain(s) => s.write(buf),
            BlockingStream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            BlockingStream::Plain(s) => s.flush(),
            BlockingStream::Tls(s) => s.flush(),
        }
    }
}

/// A shareable handle for tests and tools that want the raw TLS client configuration.
pub fn client_config(tls: &ClientTls) -> Arc<rustls::ClientConfig> {
    tls.config.clone()
}
