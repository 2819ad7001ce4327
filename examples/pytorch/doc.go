// Package pytorch holds a PyTorch trainer for floe, mnist_cnn.py: the FedAvg
// paper's MNIST CNN (two 5x5 conv layers with BatchNorm, a 512-unit layer)
// trained with torch.optim.SGD, served over the resident-trainer protocol
// (model/doc.go, "Resident trainers") by python/floe_trainer.py. It also
// serves MLPs in floe's built-in tensor layout (--model mlp:784-64-10), so
// that a floe job with that model can run on PyTorch today.
//
// The tests run federations with it: a floe simulation (three participants,
// three rounds, the chain audited) with the PyTorch MLP, and three resident
// CNN trainers averaged round by round. They need a python3 that can import
// torch (Debian: apt-get install python3-torch python3-numpy
// libopenblas0-pthread; .ci/run installs them) and MNIST (FLOE_MNIST_DIR),
// and skip with a message otherwise.
package pytorch
