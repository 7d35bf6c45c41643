/**
 * Work refused by one of the server's bounds (reads in flight, lookup rates): the Interest behind
 * it is dropped and counted, never answered with a Nack. Each bound's error extends this one.
 */
export class BoundRefusedError extends Error {}
