//! A minimal HTTP/1.1 client: one keep-alive connection per worker, so the connection
//! count is exactly what the user asked for.

use std::net::SocketAddr;

use anyhow::Context;
use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One connection to the service.
pub struct Connection {
    address: SocketAddr,
    host: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

/// A response: status and whole body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// The `Authorization` header value of an access token; cheap to clone.
pub fn bearer(token: &str) -> anyhow::Result<HeaderValue> {
    Ok(HeaderValue::from_maybe_shared(Bytes::from(format!("Bearer {token}")))?)
}

impl Connection {
    pub fn new(address: SocketAddr) -> Self {
        Self { address, host: address.to_string(), sender: None }
    }

    async fn sender(&mut self) -> anyhow::Result<&mut SendRequest<Full<Bytes>>> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = TcpStream::connect(self.address)
                .await
                .with_context(|| format!("connecting to {}", self.address))?;
            stream.set_nodelay(true)?;
            let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            self.sender = Some(sender);
        }
        self.sender.as_mut().ok_or_else(|| anyhow::anyhow!("no connection"))
    }

    /// Sends one request and reads the whole answer; reconnects once if the connection
    /// was closed under it.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Bytes>,
    ) -> anyhow::Result<Answer> {
        let authorization = token.map(bearer).transpose()?;
        self.send_as(method, path, authorization, body).await
    }

    /// As [`Self::send`], with the `Authorization` header made beforehand (see [`bearer`]):
    /// the load loop sends the same few thousand tokens over and over.
    pub async fn send_as(
        &mut self,
        method: Method,
        path: &str,
        authorization: Option<HeaderValue>,
        body: Option<Bytes>,
    ) -> anyhow::Result<Answer> {
        self.send_with(method, path, authorization.map(|value| (AUTHORIZATION, value)), body).await
    }

    /// Sends one request with one header of the caller's (`Authorization`, a webhook's
    /// signature) and reads the whole answer; reconnects as [`Self::send`].
    pub async fn send_with(
        &mut self,
        method: Method,
        path: &str,
        header: Option<(HeaderName, HeaderValue)>,
        body: Option<Bytes>,
    ) -> anyhow::Result<Answer> {
        self.send_with_all(method, path, header.into_iter(), body).await
    }

    /// Sends one request with the caller's headers (a booking's `Authorization` and
    /// `Queue-Pass`) and reads the whole answer; reconnects as [`Self::send`].
    pub async fn send_with_all(
        &mut self,
        method: Method,
        path: &str,
        headers: impl Iterator<Item = (HeaderName, HeaderValue)>,
        body: Option<Bytes>,
    ) -> anyhow::Result<Answer> {
        let mut builder = Request::builder().method(method).uri(path).header("host", &self.host);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        let request = builder.body(Full::new(body.unwrap_or_default()))?;
        let sender = self.sender().await?;
        sender.ready().await?;
        let response = match sender.send_request(request).await {
            Ok(response) => response,
            Err(e) => {
                self.sender = None;
                return Err(e.into());
            }
        };
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer { status, body })
    }

    /// Sends a JSON body.
    pub async fn send_json(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> anyhow::Result<Answer> {
        self.send(method, path, token, Some(Bytes::from(serde_json::to_vec(body)?))).await
    }
}

/// The service's `/metrics` text (Prometheus exposition format).
pub async fn metrics(address: SocketAddr) -> anyhow::Result<String> {
    let answer = Connection::new(address).send(Method::GET, "/metrics", None, None).await?;
    anyhow::ensure!(answer.status == 200, "reading /metrics: {}", answer.status);
    Ok(String::from_utf8_lossy(&answer.body).into_owned())
}
