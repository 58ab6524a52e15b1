// Package pipeline runs event sources concurrently and hands their events,
// one at a time and in arrival order, to a single processing function
// (enrichment, rules, outputs). The standalone agent, `ruled events` and the
// Falco plugin share it.
package pipeline
