// `qkv bench allreduce`: the time of one gradient allreduce across MPI ranks (run it under
// `mpirun -np R`): the ViT's gradient (its model options) and a single float (the latency), the
// medians of --reps calls; the scaling estimate in the README (bench/mpi_scaling.sh) uses both.
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "command.h"
#include "validators.h"
#include "qkv/train/distributed.h"
#include "qkv/train/vit_memory.h"
#include "vit_options.h"

namespace {

struct AllreduceOptions {
  qkv::models::VitConfig model;
  int64_t reps = 50;
  bool json = false;
};

int run(const AllreduceOptions& o) {
  o.model.validate();
  qkv::train::Communicator& comm = qkv::train::world();
  const auto floats = static_cast<int64_t>(qkv::train::vit_parameter_count(o.model));
  const int reps = static_cast<int>(o.reps);
  qkv::train::time_allreduce(comm, floats, 3);  // warm-up: connections and buffers
  const double gradient = qkv::train::time_allreduce(comm, floats, reps);
  const double latency = qkv::train::time_allreduce(comm, 1, reps);
  if (!comm.primary()) return 0;
  if (o.json) {
    nlohmann::json j = {{"ranks", comm.size()},           {"floats", floats}, {"bytes", floats * 4},
                        {"gradient_seconds", gradient}, {"one_float_seconds", latency}, {"reps", reps},
                        {"mpi", qkv::train::mpi_available()}};
    std::cout << j.dump() << "\n";
  } else {
    std::printf("allreduce over %d rank%s (MPI %s), medians of %d calls:\n", comm.size(), comm.size() > 1 ? "s" : "",
                qkv::train::mpi_available() ? "built in" : "not built in", reps);
    std::printf("  the ViT's gradient, %lld floats (%.2f MB): %.3f ms\n", static_cast<long long>(floats),
                static_cast<double>(floats) * 4e-6, gradient * 1e3);
    std::printf("  one float (latency): %.3f ms\n", latency * 1e3);
  }
  return 0;
}

qkv::cli::Command reg("bench allreduce", "Time of the gradient allreduce across MPI ranks (run under mpirun -np R)",
                      [](CLI::App& app) -> qkv::cli::Runner {
                        auto o = std::make_shared<AllreduceOptions>();
                        qkv::cli::add_vit_model_options(app, o->model);
                        app.add_option("--reps", o->reps, "Timed calls (the median is printed)")
                            ->check(qkv::cli::int_in(1, 100000))
                            ->capture_default_str();
                        app.add_flag("--json", o->json, "Print one JSON object");
                        return [o] { return run(*o); };
                      });

}  // namespace
