import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy in front of nats-server that a test can cut and restore: the way to
 * take one client's network away (a partition) while every other client stays connected.
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private readonly captured: Buffer[] = [];
  /** Bytes that arrived while the link was held, in arrival order, each with where it goes. */
  private readonly heldBack: Array<{ to: Socket; chunk: Buffer }> = [];
  private isCut = false;
  private isHeld = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => proxy?.accept(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('proxy has no port');
    proxy = new TcpProxy(server, address.port);
    return proxy;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Drops every connection and refuses new ones until `restore()`. */
  cut(): void {
    this.isCut = true;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  /**
   * Stops forwarding both ways but closes nothing, as a network that drops every packet does:
   * neither end notices until its own pings time out. `restore()` then delivers the bytes held
   * back, in order, as TCP retransmission would once the network is back.
   */
  hold(): void {
    this.isHeld = true;
  }

  restore(): void {
    this.isCut = false;
    this.isHeld = false;
    for (const { to, chunk } of this.heldBack.splice(0)) if (!to.destroyed) to.write(chunk);
  }

  /** Every byte that went through, both ways, in the order it came: what anyone on the path sees. */
  transcript(): Buffer {
    return Buffer.concat(this.captured);
  }

  async close(): Promise<void> {
    this.heldBack.length = 0;
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, targetPort: number): void {
    if (this.isCut) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        this.sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    const forward = (to: Socket) => (chunk: Buffer) => {
      this.captured.push(chunk);
      if (this.isHeld) this.heldBack.push({ to, chunk });
      else to.write(chunk);
    };
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
  }
}
