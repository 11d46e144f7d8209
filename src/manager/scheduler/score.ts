/**
 * Scoring: which eligible node a task of a group goes to. Lower is better, compared in order:
 * 1. tasks of the same service on the node (spread the service across nodes),
 * 2. tasks on the node in all (least loaded),
 * 3. node index (nodes sorted by id), so ties break the same way every time.
 *
 * `NodeHeap` is a binary min-heap of node indexes under that order. Its keys live in arrays
 * owned by the caller and may only grow for the node at the top (the one just chosen), which
 * `top()`/`replaceTop()`/`pop()` handle in O(log n); building it is O(n).
 */
export class NodeHeap {
  readonly #heap: Int32Array;
  #size = 0;
  readonly #service: Int32Array;
  readonly #total: Int32Array;

  /**
   * @param nodes candidate node indexes (copied)
   * @param serviceCount tasks of the group's service per node index
   * @param totalCount tasks per node index
   */
  constructor(nodes: ArrayLike<number>, serviceCount: Int32Array, totalCount: Int32Array) {
    this.#heap = Int32Array.from(nodes);
    this.#size = this.#heap.length;
    this.#service = serviceCount;
    this.#total = totalCount;
    for (let i = (this.#size >> 1) - 1; i >= 0; i--) this.#down(i);
  }

  get size(): number {
    return this.#size;
  }

  /** The best node, or -1 when empty. */
  top(): number {
    return this.#size > 0 ? (this.#heap[0] as number) : -1;
  }

  /** Restores order after the top node's keys grew (it took a task and can take more). */
  replaceTop(): void {
    this.#down(0);
  }

  /** Removes the top node (it can take no more tasks of this group). */
  pop(): void {
    if (this.#size === 0) return;
    this.#size--;
    if (this.#size > 0) {
      this.#heap[0] = this.#heap[this.#size] as number;
      this.#down(0);
    }
  }

  /** Whether node `a` scores better than node `b`. */
  #less(a: number, b: number): boolean {
    const sa = this.#service[a] as number;
    const sb = this.#service[b] as number;
    if (sa !== sb) return sa < sb;
    const ta = this.#total[a] as number;
    const tb = this.#total[b] as number;
    if (ta !== tb) return ta < tb;
    return a < b;
  }

  #down(start: number): void {
    const heap = this.#heap;
    const size = this.#size;
    let i = start;
    const item = heap[i] as number;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= size) break;
      const r = l + 1;
      let c = l;
      if (r < size && this.#less(heap[r] as number, heap[l] as number)) c = r;
      if (!this.#less(heap[c] as number, item)) break;
      heap[i] = heap[c] as number;
      i = c;
    }
    heap[i] = item;
  }
}
