//! Login throttling: after too many failed logins from one client address, or for one
//! account name, further attempts are refused with 429 and `Retry-After` until the window
//! that counted them ends.
//!
//! Both keys matter: the address limit stops one client from trying many names (credential
//! stuffing), the name limit stops many clients from trying one name (a botnet guessing
//! ana's password). The price of the name limit is that anyone can keep a name throttled by
//! failing on purpose; the window is short so that such a lock-out is a nuisance, not a
//! denial of the account, and a correct password from a client under its own address limit
//! is still refused while the name is throttled (otherwise the limit would not hold).
//!
//! Memory is bounded: at most [`LoginLimits::max_entries`] keys are remembered; lapsed
//! windows are dropped first, then the oldest ones.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The throttling settings.
#[derive(Clone, Debug)]
pub struct LoginLimits {
    /// Failed logins allowed from one client address (IPv6: one /64) per window.
    pub per_ip: u32,
    /// Failed logins allowed for one account name per window.
    pub per_name: u32,
    /// How long a window lasts, counted from its first failure.
    pub window: Duration,
    /// The most keys (addresses plus names) remembered at once.
    pub max_entries: usize,
}

impl Default for LoginLimits {
    /// 20 failures per address and 10 per name in 5 minutes, 10,000 keys (about 1 MiB).
    fn default() -> Self {
        LoginLimits {
            per_ip: 20,
            per_name: 10,
            window: Duration::from_secs(5 * 60),
            max_entries: 10_000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Ip(IpAddr),
    Name(String),
}

#[derive(Clone, Copy, Debug)]
struct Window {
    start: Instant,
    failures: u32,
}

/// Counts failed logins by client address and by account name.
#[derive(Debug)]
pub struct LoginLimiter {
    limits: LoginLimits,
    windows: Mutex<HashMap<Key, Window>>,
}

/// The longest account name (see `accounts::check_name`): longer names cannot exist, so they
/// are not counted by name (the address still counts them) and cannot bloat the map.
const MAX_NAME: usize = 32;

impl LoginLimiter {
    /// A limiter with `limits`.
    pub fn new(limits: LoginLimits) -> Self {
        LoginLimiter {
            limits,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn keys(ip: Option<IpAddr>, name: &str) -> [Option<(Key, bool)>; 2] {
        [
            ip.map(|ip| (Key::Ip(client_key(ip)), true)),
            (name.len() <= MAX_NAME).then(|| (Key::Name(name.to_owned()), false)),
        ]
    }

    /// `Ok` when a login of `name` from `ip` may be tried now; otherwise how long until it
    /// may.
    pub fn check(&self, ip: Option<IpAddr>, name: &str, now: Instant) -> Result<(), Duration> {
        let map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = Duration::ZERO;
        for (key, is_ip) in Self::keys(ip, name).into_iter().flatten() {
            let limit = if is_ip {
                self.limits.per_ip
            } else {
                self.limits.per_name
            };
            if let Some(w) = map.get(&key) {
                let end = w.start + self.limits.window;
                if now < end && w.failures >= limit {
                    wait = wait.max(end - now);
                }
            }
        }
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Records a failed login of `name` from `ip`.
    pub fn failed(&self, ip: Option<IpAddr>, name: &str, now: Instant) {
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        for (key, _) in Self::keys(ip, name).into_iter().flatten() {
            if !map.contains_key(&key) && map.len() >= self.limits.max_entries {
                self.make_room(&mut map, now);
            }
            let w = map.entry(key).or_insert(Window {
                start: now,
                failures: 0,
            });
            if now >= w.start + self.limits.window {
                *w = Window {
                    start: now,
                    failures: 0,
                };
            }
            w.failures = w.failures.saturating_add(1);
        }
    }

    /// Records a successful login of `name`: its own count starts again. The address's count
    /// is kept, so one valid account does not reset a client that is guessing others.
    pub fn succeeded(&self, name: &str) {
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&Key::Name(name.to_owned()));
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.windows.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frees at least one slot: drops lapsed windows, else the oldest one. Linear in the map
    /// size, which is bounded, and only paid when the map is full.
    fn make_room(&self, map: &mut HashMap<Key, Window>, now: Instant) {
        let window = self.limits.window;
        map.retain(|_, w| now < w.start + window);
        while map.len() >= self.limits.max_entries {
            let Some(oldest) = map
                .iter()
                .min_by_key(|(_, w)| w.start)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            map.remove(&oldest);
        }
    }
}

/// The key of a client address: IPv4 as is, IPv6 by its /64 prefix, since one host usually
/// owns a whole /64 and could otherwise rotate addresses to dodge the limit. IPv4-mapped IPv6
/// addresses count as their IPv4 address.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(max_entries: usize) -> LoginLimiter {
        LoginLimiter::new(LoginLimits {
            per_ip: 3,
            per_name: 2,
            window: Duration::from_secs(60),
            max_entries,
        })
    }

    #[test]
    fn throttles_by_name_and_by_address_until_the_window_ends() {
        let l = limiter(100);
        let t0 = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        l.failed(Some(a), "ana", t0);
        assert!(l.check(Some(a), "ana", t0).is_ok());
        l.failed(Some(b), "ana", t0);
        // Two failures for ana, from two addresses: ana is throttled from anywhere.
        let wait = l.check(Some(b), "ana", t0 + Duration::from_secs(10));
        assert_eq!(wait, Err(Duration::from_secs(50)));
        assert!(l.check(Some(a), "bia", t0).is_ok());
        // A third failure from a (another name) throttles a for every name.
        l.failed(Some(a), "bia", t0);
        l.failed(Some(a), "caio", t0);
        assert!(l.check(Some(a), "duda", t0).is_err());
        assert!(l.check(Some(b), "duda", t0).is_ok());
        // The window ends.
        let later = t0 + Duration::from_secs(61);
        assert!(l.check(Some(a), "ana", later).is_ok());
        // Success resets the name, not the address.
        l.failed(Some(b), "eva", later);
        l.failed(Some(b), "eva", later);
        assert!(l.check(None, "eva", later).is_err());
        l.succeeded("eva");
        assert!(l.check(None, "eva", later).is_ok());
    }

    #[test]
    fn memory_is_bounded_and_ipv6_counts_by_prefix() {
        let l = limiter(10);
        let t0 = Instant::now();
        for i in 0..1000u32 {
            l.failed(None, &format!("n{i}"), t0 + Duration::from_millis(i as u64));
        }
        assert!(l.len() <= 10);
        // Names that cannot exist are not remembered.
        l.failed(None, &"x".repeat(10_000), t0);
        assert!(l.len() <= 10);
        let l = limiter(100);
        for i in 1..=3u16 {
            let ip = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, i));
            l.failed(Some(ip), &format!("u{i}"), t0);
        }
        let same_64: IpAddr = "2001:db8:0:1::ffff".parse().unwrap();
        assert!(l.check(Some(same_64), "zed", t0).is_err());
        let other_64: IpAddr = "2001:db8:0:2::1".parse().unwrap();
        assert!(l.check(Some(other_64), "zed", t0).is_ok());
    }
}
