//! Redis and NATS servers that require authentication and TLS, as production ones should:
//! the seams connect with the right credentials and the server's CA, and get nowhere
//! without them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use confab_cluster::{Bus, Directory, Keys, NatsBus, NatsSecurity, RedisDirectory};
use confab_testkit::{NatsServer, RedisServer, ServerOptions, eventually, free_port};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

use crate::helpers::{LONG_TTL, wait_bus_ready, wait_directory_ready};

/// A private CA and a certificate it signed for 127.0.0.1, as PEM files.
struct Certificates {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn certificates() -> Result<Certificates> {
    let dir = tempfile::tempdir()?;
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?
        .signed_by(&key, &issuer)?;
    let write = |name: &str, pem: String| -> Result<PathBuf> {
        let path = dir.path().join(name);
        std::fs::write(&path, pem)?;
        Ok(path)
    };
    Ok(Certificates {
        ca: write("ca.pem", ca_cert.pem())?,
        cert: write("server.pem", cert.pem())?,
        key: write("server.key", key.serialize_pem())?,
        _dir: dir,
    })
}

fn args(args: &[&str]) -> Vec<String> {
    args.iter().map(|arg| (*arg).to_owned()).collect()
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap_or_default()
}

/// What a directory that cannot reach its server answers: its ping fails.
async fn refused(directory: &RedisDirectory) -> bool {
    tokio::time::timeout(Duration::from_secs(5), directory.ping())
        .await
        .map_or(true, |ping| ping.is_err())
}

#[tokio::test]
async fn redis_with_an_acl_user_and_tls_only_answers_the_right_user_over_tls() -> Result<()> {
    let certificates = certificates()?;
    let tls_port = free_port()?;
    let server = RedisServer::start_with(ServerOptions {
        args: args(&[
            "--user",
            "default",
            "off",
            "--user",
            "confab",
            "on",
            ">s3cret-pass",
            "~*",
            "&*",
            "+@all",
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            path(&certificates.cert),
            "--tls-key-file",
            path(&certificates.key),
            "--tls-ca-cert-file",
            path(&certificates.ca),
            "--tls-auth-clients",
            "no",
        ]),
        probe: Some((
            b"AUTH confab s3cret-pass\r\nPING\r\n".to_vec(),
            b"+OK\r\n+PONG".to_vec(),
        )),
    })?;
    let secured = format!("rediss://confab:s3cret-pass@127.0.0.1:{tls_port}");
    let directory =
        RedisDirectory::connect_with(&secured, Keys::default(), Some(&certificates.ca)).await?;
    wait_directory_ready(&directory).await?;
    directory.register_user("alice", "node-a", LONG_TTL).await?;
    directory.refresh_node_lease("node-a", LONG_TTL).await?;
    let found = directory.lookup_users(&["alice"]).await?;
    assert_eq!(found["alice"], ["node-a"]);

    // The wrong password or no user: nothing answers. (The plain port only serves the
    // harness's readiness probe.)
    let wrong = format!("rediss://confab:wrong@127.0.0.1:{tls_port}");
    let anonymous = format!("rediss://127.0.0.1:{tls_port}");
    for (url, what) in [(&wrong, "wrong password"), (&anonymous, "no user")] {
        let directory =
            RedisDirectory::connect_with(url, Keys::default(), Some(&certificates.ca)).await?;
        assert!(refused(&directory).await, "{what} was let in");
    }
    // A client trusting another CA does not talk to this server.
    let untrusted = certificates_of_another_ca()?;
    let directory =
        RedisDirectory::connect_with(&secured, Keys::default(), Some(&untrusted.ca)).await?;
    assert!(
        refused(&directory).await,
        "a server of another CA was trusted"
    );
    drop(server);
    Ok(())
}

fn certificates_of_another_ca() -> Result<Certificates> {
    certificates()
}

/// Whether `bus` gets a round trip through its server within a few seconds.
async fn answers(bus: &NatsBus) -> bool {
    eventually("a round trip", Duration::from_secs(5), || async move {
        bus.ping().await.ok()
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn nats_over_tls_with_a_token_lets_only_the_token_in() -> Result<()> {
    let certificates = certificates()?;
    let server = NatsServer::start_with(ServerOptions {
        args: args(&[
            "--auth",
            "t0ken-value",
            "--tls",
            "--tlscert",
            path(&certificates.cert),
            "--tlskey",
            path(&certificates.key),
        ]),
        probe: None,
    })?;
    let url = format!("tls://127.0.0.1:{}", server.port());
    let secured = NatsSecurity {
        token: Some("t0ken-value".to_owned()),
        tls_ca_file: Some(certificates.ca.clone()),
        ..NatsSecurity::default()
    };
    let bus = NatsBus::connect_with(&url, "node-a", &secured).await?;
    wait_bus_ready(&bus).await?;

    let wrong_token = NatsSecurity {
        token: Some("guess".to_owned()),
        ..secured.clone()
    };
    let intruder = NatsBus::connect_with(&url, "intruder", &wrong_token).await?;
    assert!(!answers(&intruder).await, "a wrong token was let in");
    let other_ca = certificates_of_another_ca()?;
    let untrusting = NatsSecurity {
        tls_ca_file: Some(other_ca.ca.clone()),
        ..secured
    };
    let fooled = NatsBus::connect_with(&url, "fooled", &untrusting).await?;
    assert!(
        !answers(&fooled).await,
        "a server of another CA was trusted"
    );
    Ok(())
}

/// A server whose only users are those of `authorization`, a NATS config block.
fn nats_with_users(authorization: &str) -> Result<(NatsServer, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("nats.conf");
    std::fs::write(&config, format!("authorization {{ {authorization} }}\n"))?;
    let server = NatsServer::start_with(ServerOptions {
        args: args(&["-c", path(&config)]),
        probe: None,
    })?;
    Ok((server, dir))
}

#[tokio::test]
async fn nats_with_nkey_users_lets_only_their_keys_in() -> Result<()> {
    let user = nkeys::KeyPair::new_user();
    let (server, _config) =
        nats_with_users(&format!("users = [ {{ nkey: {} }} ]", user.public_key()))?;
    let url = format!("nats://127.0.0.1:{}", server.port());
    let with_nkey = NatsSecurity {
        nkey_seed: Some(user.seed()?),
        ..NatsSecurity::default()
    };
    let bus = NatsBus::connect_with(&url, "node-a", &with_nkey).await?;
    wait_bus_ready(&bus).await?;
    let stranger = NatsSecurity {
        nkey_seed: Some(nkeys::KeyPair::new_user().seed()?),
        ..NatsSecurity::default()
    };
    let intruder = NatsBus::connect_with(&url, "intruder", &stranger).await?;
    assert!(!answers(&intruder).await, "an unknown NKey was let in");
    let anonymous = NatsBus::connect(&url, "anonymous").await?;
    assert!(
        !answers(&anonymous).await,
        "a client without credentials was let in"
    );
    let both = NatsSecurity {
        token: Some("t".to_owned()),
        ..with_nkey
    };
    assert!(NatsBus::connect_with(&url, "both", &both).await.is_err());
    Ok(())
}

#[tokio::test]
async fn nats_with_a_password_in_the_url_lets_only_that_user_in() -> Result<()> {
    let (server, _config) =
        nats_with_users("users = [ { user: confab, password: \"pa55word\" } ]")?;
    let port = server.port();
    let bus = NatsBus::connect(
        &format!("nats://confab:pa55word@127.0.0.1:{port}"),
        "node-a",
    )
    .await?;
    wait_bus_ready(&bus).await?;
    let guess =
        NatsBus::connect(&format!("nats://confab:guess@127.0.0.1:{port}"), "intruder").await?;
    assert!(!answers(&guess).await, "a wrong password was let in");
    Ok(())
}
