//! Writes the Libreswan counterpart of a `gen-tree` gateway, for timing
//! `ipsec addconn --checkconfig` against `ipsecmgr lint`:
//!
//! ```text
//! cargo run --release --example gen-libreswan -- N FRAGMENTS DIR
//! ```
//!
//! DIR/ipsec.conf (`config setup` and N conns, or with FRAGMENTS = N an
//! `include` of DIR/ipsec.d/*.conf, one conn a file) and DIR/ipsec.secrets.
//! Each conn is gen-tree's tunnel of the same number: the same networks,
//! peers, identities, algorithms and lifetimes, psk or rsa alike; IPv6
//! tunnels stay IPv6.  gen-tree's extra flows and manual SAs have no
//! Libreswan form and are left out.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Tunnel `i`, as gen-tree writes it, as a Libreswan conn.
fn conn(i: usize, secrets: &mut String) -> String {
    let (a, b) = (i / 250 % 250, i % 250);
    let peer = if i % 5 == 1 { i - 1 } else { i };
    let (pa, pb) = (peer / 250 % 250, peer % 250);
    let mut t = String::new();
    let _ = writeln!(t, "# customer {i}\nconn customer-{i:05}");
    if i % 7 == 3 {
        let right = format!("2001:db8:ffff:{pa:x}::{pb:x}");
        let _ = writeln!(
            t,
            "\tleft=2001:db8::1\n\tleftsubnet=2001:db8:{a:x}:{b:x}::/64\n\tleftid=@gw1.example.net\n\
             \tright={right}\n\trightsubnet=2001:db8:ff{a:02x}:{b:x}::/64\n\trightid=@c{i}.customers.example\n\
             \tauthby=secret\n\tike=aes256-sha2_256;dh19\n\tesp=aes256gcm16;dh19\n\tauto=add"
        );
        let _ = writeln!(
            secrets,
            "@gw1.example.net @c{i}.customers.example : PSK \"tunnel-{i}-shared-secret-0123456789\""
        );
        return t;
    }
    let right = format!("198.{pa}.{pb}.{}", 1 + (peer % 3));
    let port = if i % 4 == 2 {
        "\tleftprotoport=tcp\n\trightprotoport=tcp/443\n"
    } else {
        ""
    };
    let auth = if peer % 3 == 0 {
        "\tauthby=rsasig\n\tleftrsasigkey=%cert\n\trightrsasigkey=%cert\n"
    } else {
        let _ = writeln!(
            secrets,
            "@gw1.example.net @peer{peer}.customers.example : PSK \"tunnel-{peer}-shared-secret-0123456789\""
        );
        "\tauthby=secret\n"
    };
    let _ = write!(
        t,
        "\tleft=192.0.2.1\n\tleftsubnets={{10.{a}.{b}.0/26 10.{a}.{b}.64/26}}\n\tleftid=@gw1.example.net\n\
         \tright={right}\n\trightsubnet=172.{}.{b}.0/24\n\trightid=@peer{peer}.customers.example\n\
         {port}{auth}\tike=aes256-sha2_256;modp2048\n\tikelifetime=8h\n\
         \tesp=aes128gcm16;modp2048\n\tsalifetime=1h\n\tauto=add\n",
        16 + a % 16
    );
    t
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [n, fragments, dir] = args.as_slice() else {
        eprintln!("usage: gen-libreswan N FRAGMENTS DIR");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N is a number");
    let fragments: usize = fragments.parse().expect("FRAGMENTS is a number");
    let dir = Path::new(dir);
    let frag_dir = dir.join("ipsec.d");
    fs::create_dir_all(&frag_dir).unwrap();
    let mut conf = String::from(
        "# gw1.example.net: generated for benchmarks\nconfig setup\n\tlogfile=/dev/null\n\n",
    );
    let mut secrets = String::new();
    if fragments == 0 {
        for i in 0..n {
            conf.push_str(&conn(i, &mut secrets));
        }
    } else {
        let mut files = vec![String::new(); fragments];
        for i in 0..n {
            files[i % fragments].push_str(&conn(i, &mut secrets));
        }
        for (f, text) in files.iter().enumerate() {
            write(&frag_dir.join(format!("customer-{f:05}.conf")), text);
        }
        let _ = writeln!(conf, "include {}/*.conf", frag_dir.display());
    }
    write(&dir.join("ipsec.conf"), &conf);
    write(&dir.join("ipsec.secrets"), &secrets);
}
