/** Promises that resolve once a projection has applied its stream up to a given sequence. */
export class PositionWaiters {
  private waiters: Array<{ position: number; resolve: () => void }> = [];

  wait(position: number, current: number): Promise<void> {
    if (current >= position) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ position, resolve }));
  }

  /** Resolves every waiter at or below `current`, the position just stored. */
  reached(current: number): void {
    this.waiters = this.waiters.filter((waiter) => {
      if (waiter.position > current) return true;
      waiter.resolve();
      return false;
    });
  }
}
