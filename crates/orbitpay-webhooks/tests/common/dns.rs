//! Resolvers standing in for DNS: one that changes its answer (rebinding), one that is slow.

use std::io;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use orbitpay_webhooks::guard::Resolve;

/// Answers the n-th lookup with the n-th answer (the last one once they run out) and keeps the
/// names it was asked.
pub struct Rebinding {
    answers: Vec<IpAddr>,
    pub asked: Mutex<Vec<String>>,
}

impl Rebinding {
    pub fn new(answers: &[&str]) -> Rebinding {
        Rebinding {
            answers: answers.iter().map(|a| a.parse().unwrap()).collect(),
            asked: Mutex::default(),
        }
    }

    pub fn lookups(&self) -> usize {
        self.asked.lock().unwrap().len()
    }
}

impl Resolve for Rebinding {
    fn lookup<'a>(&'a self, host: &'a str, _port: u16) -> BoxFuture<'a, io::Result<Vec<IpAddr>>> {
        let mut asked = self.asked.lock().unwrap();
        let n = asked.len().min(self.answers.len() - 1);
        asked.push(host.to_owned());
        let answer = self.answers[n];
        Box::pin(async move { Ok(vec![answer]) })
    }
}

/// Answers `answer`, after `delay`.
pub struct Slow {
    pub delay: Duration,
    pub answer: IpAddr,
}

impl Resolve for Slow {
    fn lookup<'a>(&'a self, _host: &'a str, _port: u16) -> BoxFuture<'a, io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            Ok(vec![self.answer])
        })
    }
}
