//! The server: one engine behind an HTTP and an HTTPS listener.

use crate::storage::StorageArgs;
use crate::tls::{self, TlsFiles};
use anyhow::Context;
use axum::routing::get;
use axum::{Extension, Router};
use axum_server::tls_rustls::RustlsConfig;
use backflow_ams::{AmsState, ListenerScheme};
use backflow_domain::Clock;
use backflow_engine::channels::Channels;
use backflow_engine::{Engine, EngineSettings};
use backflow_notify::{Notifier, NotifierConfig};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// What `serve` runs with.
pub struct ServeConfig {
    pub storage: StorageArgs,
    pub http_addr: SocketAddr,
    /// `None` serves no HTTPS.
    pub https_addr: Option<SocketAddr>,
    /// `None` uses the self-signed certificate in the data directory.
    pub tls: Option<TlsFiles>,
    pub clock: Arc<dyn Clock>,
    pub settings: EngineSettings,
    /// Bearer token for the `/admin` API.
    pub admin_token: String,
    pub notifier: NotifierConfig,
}

/// A built server whose listeners are bound (port 0 gets a real port) but not yet serving.
pub struct Application {
    engine: Engine,
    notifier: Notifier,
    router: Router,
    http: tokio::net::TcpListener,
    https: Option<(std::net::TcpListener, RustlsConfig)>,
}

impl Application {
    pub async fn build(config: ServeConfig) -> anyhow::Result<Self> {
        tls::install_crypto_provider();
        let channels = Channels::for_deployment(
            config.settings.deployment,
            config.settings.refund_channel.as_deref(),
        )
        .map_err(anyhow::Error::msg)?;
        let store = config.storage.open().await?;
        let engine = Engine::with_settings(store, config.clock, channels, config.settings);
        engine
            .seed_demo_rates()
            .await
            .context("cannot seed the demo exchange rates")?;
        let deployment_key = Arc::new(
            engine
                .deployment_key()
                .await
                .context("cannot load the deployment key")?,
        );
        let notifier = Notifier::new(engine.clone(), config.notifier)?;
        let admin_token: Arc<str> = config.admin_token.into();
        let router = backflow_ams::router(AmsState {
            engine: engine.clone(),
            deployment_key,
        })
        .merge(crate::admin::router(engine.clone(), admin_token))
        .merge(backflow_legacy::router(engine.clone()))
        .merge(crate::metrics::router())
        .merge(backflow_portal::router(engine.clone()))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(crate::openapi::public_json))
        .layer(Extension(engine.clone()));
        let router = crate::logging::layer(router);
        let http = tokio::net::TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.http_addr))?;
        let https = match config.https_addr {
            None => None,
            Some(addr) => {
                let files = match config.tls {
                    Some(f) => f,
                    None => tls::self_signed(&config.storage.data_dir)?,
                };
                let rustls = RustlsConfig::from_pem_file(&files.cert, &files.key)
                    .await
                    .with_context(|| {
                        format!("cannot load the TLS certificate {}", files.cert.display())
                    })?;
                let listener = std::net::TcpListener::bind(addr)
                    .with_context(|| format!("cannot listen on {addr}"))?;
                listener.set_nonblocking(true)?;
                Some((listener, rustls))
            }
        };
        Ok(Self {
            engine,
            notifier,
            router,
            http,
            https,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The notification deliverer; tests step it with `dispatch_due`.
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_workers, workers_stopped) = tokio::sync::watch::channel(false);
        let notifier = tokio::spawn(self.notifier.clone().run(workers_stopped.clone()));
        let scheduler = {
            let engine = self.engine.clone();
            tokio::spawn(async move {
                engine
                    .run_scheduler(std::time::Duration::from_secs(1), workers_stopped)
                    .await
            })
        };
        let handle = axum_server::Handle::new();
        let https = self.https.map(|(listener, rustls)| {
            let app = self
                .router
                .clone()
                .layer(Extension(ListenerScheme("https")))
                .layer(Extension(backflow_portal::OverTls));
            let server = axum_server::from_tcp_rustls(listener, rustls).handle(handle.clone());
            tokio::spawn(async move { server.serve(app.into_make_service()).await })
        });
        let tls_handle = handle.clone();
        axum::serve(self.http, self.router)
            .with_graceful_shutdown(async move {
                shutdown.await;
                tls_handle.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
            })
            .await?;
        if let Some(task) = https {
            task.await??;
        }
        let _ = stop_workers.send(true);
        scheduler.await?;
        notifier.await?;
        Ok(())
    }
}

async fn readyz(Extension(engine): Extension<Engine>) -> (axum::http::StatusCode, &'static str) {
    match engine.ready().await {
        Ok(_) => (axum::http::StatusCode::OK, "ready"),
        Err(_) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable",
        ),
    }
}
