// Package docker holds qzoo's container images (Dockerfile: the notebook environment;
// Dockerfile.cuda: the same with JAX's CUDA PJRT plugin for GoMLX's XLA backend) and their tests:
// no Docker engine is needed to run them, they lint the Dockerfiles with BuildKit's own checks (as
// `docker build --check` does) and check that the images set qzoo up the way README.md does. See
// README.md in this directory for how to build and run the images.
package docker
