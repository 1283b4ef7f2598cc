//! Writes a realistic gateway tree for benchmarks:
//!
//! ```text
//! cargo run --release --example gen-tree -- N FRAGMENTS DIR
//! ```
//!
//! DIR/etc/ipsec.conf (macros, a bypass flow, the includes), DIR/etc/ipsec.d
//! with N ike tunnels spread over FRAGMENTS files (FRAGMENTS = 0: all in
//! ipsec.conf itself) — psk and rsa, ids, some with ports, some IPv6, some
//! peers shared by several tunnels — with flows and manual SAs here and
//! there, and DIR/etc/ipsecmgr.conf.  Every file is mode 0600.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

/// One tunnel, numbered `i`: self-contained, so `ipsecctl -f` can load it.
fn tunnel(i: usize) -> String {
    let (a, b) = (i / 250 % 250, i % 250);
    let mut t = String::new();
    // every fifth peer serves two tunnels (a customer with two networks)
    let peer = if i % 5 == 1 { i - 1 } else { i };
    let (pa, pb) = (peer / 250 % 250, peer % 250);
    let _ = writeln!(t, "# customer {i}");
    if i % 7 == 3 {
        let _ = writeln!(
            t,
            "ike esp from 2001:db8:{a:x}:{b:x}::/64 to 2001:db8:ff{a:02x}:{b:x}::/64 \\\n\tpeer 2001:db8:ffff:{pa:x}::{pb:x} \\\n\tmain auth hmac-sha2-256 enc aes-256 group ecp256 \\\n\tquick enc aes-256-gcm group ecp256 \\\n\tsrcid gw1.example.net dstid c{i}.customers.example \\\n\tpsk \"tunnel-{i}-shared-secret-0123456789\""
        );
        return t;
    }
    let _ = writeln!(t, "local_{i} = \"{{ 10.{a}.{b}.0/26, 10.{a}.{b}.64/26 }}\"");
    let proto = if i % 4 == 2 { " proto tcp" } else { "" };
    let port = if i % 4 == 2 { " port 443" } else { "" };
    let auth = if peer % 3 == 0 {
        " rsa".to_string()
    } else {
        format!(" psk \"tunnel-{}-shared-secret-0123456789\"", peer)
    };
    let _ = writeln!(
        t,
        "ike esp{proto} from $local_{i} to 172.{}.{b}.0/24{port} \\\n\tpeer 198.{pa}.{pb}.{} \\\n\tmain auth hmac-sha2-256 enc aes-256 group modp2048 lifetime 8h \\\n\tquick enc aes-128-gcm group modp2048 lifetime 1h \\\n\tsrcid gw1.example.net dstid peer{peer}.customers.example{auth}",
        16 + a % 16,
        1 + (peer % 3)
    );
    if i % 10 == 4 {
        let _ = writeln!(
            t,
            "flow esp out from 10.{a}.{b}.128/26 to 192.168.{b}.0/24 peer 198.{a}.{b}.200 type require"
        );
    }
    if i % 25 == 6 {
        let _ = writeln!(
            t,
            "esp tunnel from 203.0.{a}.{b} to 198.51.{a}.{b} spi 0x{:08x}:0x{:08x} \\\n\tauth hmac-sha2-256 enc aes \\\n\tauthkey 0x{}:0x{} \\\n\tenckey 0x{}:0x{}",
            0x1000 + i,
            0x80000 + i,
            "a1".repeat(32),
            "b2".repeat(32),
            "c3".repeat(16),
            "d4".repeat(16)
        );
    }
    t
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [n, fragments, dir] = args.as_slice() else {
        eprintln!("usage: gen-tree N FRAGMENTS DIR");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N is a number");
    let fragments: usize = fragments.parse().expect("FRAGMENTS is a number");
    let dir = Path::new(dir);
    let etc = dir.join("etc");
    let frag_dir = etc.join("ipsec.d");
    fs::create_dir_all(&frag_dir).unwrap();
    let mut conf = String::from(
        "# gw1.example.net: generated for benchmarks\n\
         office = \"10.0.0.0/8\"\n\
         gw = \"192.0.2.1\"\n\
         flow in from $office to $gw type bypass\n\n",
    );
    if fragments == 0 {
        for i in 0..n {
            conf.push_str(&tunnel(i));
        }
    } else {
        let mut files = vec![String::new(); fragments];
        for i in 0..n {
            files[i % fragments].push_str(&tunnel(i));
        }
        for (f, text) in files.iter().enumerate() {
            let name = format!("customer-{f:05}.conf");
            write(&frag_dir.join(&name), text);
            let _ = writeln!(conf, "include \"/etc/ipsec.d/{name}\"");
        }
    }
    write(&etc.join("ipsec.conf"), &conf);
    write(
        &etc.join("ipsecmgr.conf"),
        "hostname = \"gw1.example.net\"\n",
    );
}
