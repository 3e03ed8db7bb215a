//! Data parallelism over a slice on the machine's cores, results in input order. A leaf: it
//! names nothing else in the crate.
//!
//! Used where a run does the same independent work for many items: validating and hashing
//! thousands of instances, running test cases. Workers take blocks of items from a shared
//! counter, so uneven items spread out; with one core (or one item) everything runs on the
//! calling thread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// How many worker threads a parallel step uses.
pub fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `f` over `items`, on up to [`workers`] threads, in blocks of at most `block` items;
/// the results in the order of `items`. A panic in `f` propagates to the caller.
pub fn map_blocks<T: Sync, R: Send>(
    items: &[T],
    block: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let block = block.max(1);
    let blocks = items.len().div_ceil(block);
    let threads = workers().min(blocks);
    if threads <= 1 {
        return items.iter().map(&f).collect();
    }
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, Vec<R>)>> = Mutex::new(Vec::with_capacity(blocks));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                let Some(part) = items.chunks(block).nth(b) else {
                    break;
                };
                let out: Vec<R> = part.iter().map(&f).collect();
                if let Ok(mut done) = done.lock() {
                    done.push((b, out));
                }
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|(b, _)| *b);
    done.into_iter().flat_map(|(_, out)| out).collect()
}

/// [`map_blocks`] with blocks sized for the item count: a few per worker, so a slow block
/// does not leave the other workers idle at the end.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let block = items.len().div_ceil(workers() * 8).clamp(1, 256);
    map_blocks(items, block, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_input_order() {
        let items: Vec<usize> = (0..10_007).collect();
        for block in [1, 3, 64, 10_000, 20_000] {
            let out = map_blocks(&items, block, |i| i * 2);
            assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        }
        assert!(map(&[] as &[u8], |b| *b).is_empty());
        assert_eq!(map(&[7u8], |b| *b + 1), vec![8]);
    }

    #[test]
    fn uneven_items_all_run_once() {
        let counter = AtomicUsize::new(0);
        let items: Vec<u64> = (0..500).collect();
        let out = map_blocks(&items, 7, |i| {
            counter.fetch_add(1, Ordering::Relaxed);
            if i % 50 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            i + 1
        });
        assert_eq!(counter.load(Ordering::Relaxed), 500);
        assert_eq!(out.len(), 500);
        assert_eq!(out[499], 500);
    }
}
