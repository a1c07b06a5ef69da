//! A local fake Marketo (SOAP syncLead, the REST API and the Munchkin beacon) on 127.0.0.1, for trying the
//! crate without an account: `cargo run --example fake-marketo -- --port 0` prints its address.
//! `--help` lists the options (limits, injected faults, clock skew).

fn main() -> Result<(), String> {
    let config = match fake_marketo::Config::from_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(fake_marketo::ArgsError::Help) => {
            println!("{}", fake_marketo::Config::USAGE);
            return Ok(());
        }
        Err(e) => return Err(format!("{e}\n\n{}", fake_marketo::Config::USAGE)),
    };
    let fake = fake_marketo::start(config).map_err(|e| format!("cannot start: {e}"))?;
    println!("fake Marketo listening on {}", fake.base_url());
    println!("  SOAP endpoint:   {}", fake.soap_url());
    println!("  beacon endpoint: {}", fake.beacon_base_url());
    println!("  REST endpoint:   {}", fake.rest_base_url());
    println!("  identity:        {}", fake.identity_url());
    loop {
        std::thread::sleep(std::time::Duration::from_secs(10));
        eprintln!("{}", fake.counters());
    }
}
