use super::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The examples of FIPS 180-4's companion (NIST "SHA256.pdf", "SHA2_Additional.pdf").
#[test]
fn nist_vectors() {
    let cases: [(&[u8], &str); 4] = [
        (
            b"",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            b"abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
        (
            b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn\
              hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
        ),
    ];
    for (message, want) in cases {
        assert_eq!(
            hex(&digest(message)),
            want,
            "{:?}",
            String::from_utf8_lossy(message)
        );
    }
    assert_eq!(
        hex(&digest(&[b'a'; 1_000_000])),
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
    );
}

#[test]
fn constants_follow_from_the_primes() {
    let primes: Vec<u32> = (2u32..)
        .filter(|n| (2..*n).take_while(|d| d * d <= *n).all(|d| n % d != 0))
        .take(64)
        .collect();
    let frac32 = |x: f64| ((x - x.floor()) * 4294967296.0) as u32;
    let k: Vec<u32> = primes
        .iter()
        .map(|&p| frac32(f64::from(p).cbrt()))
        .collect();
    let h0: Vec<u32> = primes[..8]
        .iter()
        .map(|&p| frac32(f64::from(p).sqrt()))
        .collect();
    assert_eq!(k, K);
    assert_eq!(h0, H0);
}

#[test]
fn any_split_of_the_input_gives_the_one_shot_digest() {
    let input: Vec<u8> = (0..200u32).map(|i| (i * 7 + 3) as u8).collect();
    let whole = digest(&input);
    for i in 0..=input.len() {
        let mut h = Sha256::new();
        h.update(&input[..i]);
        h.update(&input[i..]);
        assert_eq!(h.finalize(), whole, "split at {i}");
    }
    // Byte by byte, and empty updates in between.
    let mut h = Sha256::new();
    for b in &input {
        h.update(&[]);
        h.update(std::slice::from_ref(b));
    }
    assert_eq!(h.finalize(), whole);
}

/// Against coreutils: a few MB, and the lengths around the padding's edges (a length
/// field that just fits, or spills into one more block).
#[test]
fn agrees_with_sha256sum() {
    let dir = std::env::temp_dir().join(format!("xtask-sha256-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lengths = [
        1,
        55,
        56,
        57,
        63,
        64,
        65,
        119,
        120,
        128,
        3 * 1024 * 1024 + 5,
    ];
    let mut files = Vec::new();
    let mut want = Vec::new();
    for len in lengths {
        let bytes: Vec<u8> = (0..len as u64)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let file = dir.join(format!("{len}.bin"));
        std::fs::write(&file, &bytes).unwrap();
        want.push(format!("{}  {}", hex(&digest(&bytes)), file.display()));
        files.push(file);
    }
    let out = std::process::Command::new("sha256sum")
        .args(&files)
        .output()
        .expect("sha256sum (coreutils) runs");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(out.status.success(), "{out:?}");
    let got: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(got, want);
}
