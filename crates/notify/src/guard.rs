//! The SSRF guard at delivery time. Outside the sandbox, a notification may
//! reach only public addresses. Literal addresses are checked with the URL
//! (`notices::check_notify_url`); host names are checked here, in the HTTP
//! client's own resolver, on the very addresses it connects to, so a name that
//! resolves to a public address when checked and a private one when used (DNS
//! rebinding) cannot slip through.

use backflow_engine::notices::is_public_ip;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;
use std::sync::Arc;

/// Names resolved by the operating system.
#[derive(Debug, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// A resolver shared by the HTTP clients.
#[derive(Clone)]
pub struct SharedResolver(pub Arc<dyn Resolve>);

impl Resolve for SharedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        self.0.resolve(name)
    }
}

/// Wraps a resolver and hands the HTTP client only the public addresses among its answers.
#[derive(Clone)]
pub struct PublicOnlyResolver(pub SharedResolver);

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let answer = self.0.resolve(name);
        Box::pin(async move {
            let public = keep_public(&host, answer.await?.collect())?;
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// Why a host name was refused.
#[derive(Debug, thiserror::Error)]
#[error("refused by the SSRF guard: {host} resolves to no public address ({found})")]
pub struct NotPublic {
    host: String,
    found: String,
}

/// The public addresses among those `host` resolved to; an error when there are none.
pub fn keep_public(host: &str, found: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, NotPublic> {
    let listing = found
        .iter()
        .map(|a| a.ip().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let public: Vec<SocketAddr> = found.into_iter().filter(|a| is_public_ip(a.ip())).collect();
    if public.is_empty() {
        Err(NotPublic {
            host: host.to_owned(),
            found: listing,
        })
    } else {
        Ok(public)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter()
            .map(|ip| SocketAddr::new(ip.parse().unwrap(), 0))
            .collect()
    }

    #[test]
    fn private_answers_are_dropped_and_all_private_is_refused() {
        let kept =
            keep_public("shop.example", addrs(&["10.0.0.1", "93.184.215.14", "::1"])).unwrap();
        assert_eq!(kept, addrs(&["93.184.215.14"]));
        let err =
            keep_public("rebind.example", addrs(&["127.0.0.1", "169.254.169.254"])).unwrap_err();
        assert!(err.to_string().contains("SSRF"), "{err}");
        assert!(keep_public("nothing.example", vec![]).is_err());
    }

    #[tokio::test]
    async fn localhost_is_refused_by_the_resolver() {
        let name: Name = "localhost".parse().unwrap();
        let guard = PublicOnlyResolver(SharedResolver(Arc::new(SystemResolver)));
        let Err(e) = guard.resolve(name).await else {
            panic!("localhost must not resolve to a usable address");
        };
        assert!(e.to_string().contains("SSRF"), "{e}");
    }
}
