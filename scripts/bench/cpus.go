package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"golang.org/x/sys/unix"
)

// cpuSplit gives row 1's server processes one CPU of their own and the
// load generator (this process) the others. A deployed instance runs on
// one vCPU (available_cpu = "1" in terraform/functions.tf); and unsplit, the
// generator and the server compete for the same cores, which swings the
// measured ratio by ±10% from run to run on a 2-core machine.
type cpuSplit struct {
	server      int // the servers' CPU; -1: no split
	client, all unix.CPUSet
}

// newCPUSplit splits this process's CPUs: the last for the servers, the
// rest for the generator. Fewer than two CPUs, no taskset, or off: no split.
func newCPUSplit(on bool) (cpuSplit, string) {
	s := cpuSplit{server: -1}
	if !on {
		return s, "servers and load generator share every CPU (-pin=false)"
	}
	if err := unix.SchedGetaffinity(0, &s.all); err != nil {
		return s, fmt.Sprintf("no CPU split: %v", err)
	}
	if s.all.Count() < 2 {
		return s, "no CPU split: fewer than 2 CPUs"
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return s, "no CPU split: taskset not found"
	}
	s.client = s.all
	for cpu := 0; cpu < 1024; cpu++ {
		if s.all.IsSet(cpu) {
			s.server = cpu
		}
	}
	s.client.Clear(s.server)
	return s, fmt.Sprintf("each server pinned to CPU %d (taskset), the load generator to the %d other(s)", s.server, s.client.Count())
}

// command runs bin on the servers' CPU from its first instruction, so the
// Go runtime sizes GOMAXPROCS for it.
func (s cpuSplit) command(bin string, args ...string) *exec.Cmd {
	if s.server < 0 {
		return exec.Command(bin, args...)
	}
	return exec.Command("taskset", append([]string{"-c", strconv.Itoa(s.server), bin}, args...)...)
}

// pinGenerator keeps every thread of this process off the servers' CPU
// (threads made later inherit it) until release.
func (s cpuSplit) pinGenerator() error { return s.setThreads(&s.client) }

func (s cpuSplit) release() { _ = s.setThreads(&s.all) }

func (s cpuSplit) setThreads(set *unix.CPUSet) error {
	if s.server < 0 {
		return nil
	}
	tids, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tids {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		// A thread may exit meanwhile (ESRCH): nothing to pin.
		if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("pin thread %d: %w", tid, err)
		}
	}
	return nil
}
