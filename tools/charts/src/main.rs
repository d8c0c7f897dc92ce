//! The guide's strategy charts, drawn from real runs on virtual time.
//!
//! ```text
//! cargo run -p spillway-charts -- book/src/charts          # (re)writes <strategy>.svg
//! cargo run -p spillway-charts -- --check book/src/charts  # fails, naming them, if any is stale
//! ```
//!
//! Each backpressure strategy runs for one virtual second on the test kit's
//! `VirtualScheduler`: a producer of an item per millisecond, a consumer taking 5 ms per
//! item (`runs.rs`). The strategy's stage's `FlowStats` are sampled every virtual
//! millisecond and plotted (`plot.rs`): received, emitted and dropped (cumulative) above,
//! the buffer level and its pressure below. The output depends on nothing but the code,
//! so CI (`.ci/run`) runs `--check` to catch a behaviour change whose charts were not
//! regenerated.
#![forbid(unsafe_code)]

mod plot;
mod runs;

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use runs::STRATEGIES;

const USAGE: &str = "usage: spillway-charts [--check] DIR   (the guide's is book/src/charts)";

fn main() -> ExitCode {
    let mut check = false;
    let mut dir = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" => check = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if dir.is_none() && !arg.starts_with('-') => dir = Some(PathBuf::from(arg)),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = if check {
        check_dir(&dir)
    } else {
        write_dir(&dir)
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("spillway-charts: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Every chart: its file name and its SVG.
fn charts() -> Result<Vec<(String, String)>, Box<dyn Error>> {
    STRATEGIES
        .iter()
        .map(|strategy| {
            let samples = strategy.run()?;
            Ok((
                format!("{}.svg", strategy.name),
                plot::svg(strategy.title, &samples)?,
            ))
        })
        .collect()
}

fn write_dir(dir: &Path) -> Result<ExitCode, Box<dyn Error>> {
    std::fs::create_dir_all(dir)?;
    for (file, svg) in charts()? {
        let path = dir.join(&file);
        std::fs::write(&path, svg).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn check_dir(dir: &Path) -> Result<ExitCode, Box<dyn Error>> {
    let charts = charts()?;
    let mut stale = Vec::new();
    for (file, svg) in &charts {
        let path = dir.join(file);
        match std::fs::read_to_string(&path) {
            Ok(committed) if committed == *svg => {}
            Ok(_) => stale.push(format!("{} differs from a fresh run", path.display())),
            Err(e) => stale.push(format!("{}: {e}", path.display())),
        }
    }
    // A chart of a strategy that is no longer charted would silently go stale.
    let mut unknown: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".svg") && !charts.iter().any(|(file, _)| file == name))
        .collect();
    unknown.sort();
    for name in unknown {
        stale.push(format!(
            "{} is not drawn by spillway-charts",
            dir.join(name).display()
        ));
    }
    if stale.is_empty() {
        println!(
            "{} charts in {} are up to date",
            charts.len(),
            dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for line in &stale {
        eprintln!("stale: {line}");
    }
    eprintln!(
        "regenerate with: cargo run -p spillway-charts -- {}",
        dir.display()
    );
    Ok(ExitCode::FAILURE)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_charts_are_the_same_bytes_on_every_run() {
        let first = super::charts().unwrap();
        assert_eq!(first.len(), super::STRATEGIES.len());
        assert_eq!(first, super::charts().unwrap());
        for (file, svg) in &first {
            assert!(
                svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
                "{file}"
            );
            for label in [
                "virtual time (ms)",
                "emitted",
                "dropped",
                "buffered",
                "pressure",
            ] {
                assert!(svg.contains(label), "{file} has no {label:?}");
            }
        }
    }
}
