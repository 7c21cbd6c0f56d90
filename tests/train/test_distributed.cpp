// The communicator of one process (train/distributed.h): rank 0 of 1, collectives that leave the
// data as they are, the whole batch as the rank's rows, and the trainer's check of the batch
// against the ranks. Several ranks: tests/train/test_distributed.py under mpirun (ctest mpi_*).
#include <gtest/gtest.h>

#include <vector>

#include "qkv/core/error.h"
#include "qkv/core/rng.h"
#include "qkv/nn/linear.h"
#include "qkv/train/data_parallel.h"
#include "qkv/train/distributed.h"
#include "qkv/train/trainer.h"

using namespace qkv;

TEST(DistributedTest, OneProcessIsRankZeroOfOneAndItsCollectivesChangeNothing) {
  train::Communicator& w = train::world();
  ASSERT_EQ(w.rank(), 0);
  ASSERT_EQ(w.size(), 1);
  EXPECT_TRUE(w.primary());
  EXPECT_FALSE(w.distributed());
  std::vector<float> f = {1.5f, -2.0f, 3.25f};
  std::vector<double> d = {0.5, 7.0};
  std::vector<int64_t> i = {4, -9};
  w.allreduce_sum(f.data(), 3);
  w.allreduce_sum(d.data(), 2);
  w.broadcast(f.data(), 3);
  w.broadcast(i.data(), 2);
  w.barrier();
  EXPECT_EQ(f, (std::vector<float>{1.5f, -2.0f, 3.25f}));
  EXPECT_EQ(d, (std::vector<double>{0.5, 7.0}));
  EXPECT_EQ(i, (std::vector<int64_t>{4, -9}));
  EXPECT_EQ(w.allreduce_seconds(), 0.0);
}

TEST(DistributedTest, OneProcessTakesTheWholeBatchAndRefusesAnEmptyOne) {
  train::Communicator one;
  EXPECT_EQ(train::rank_rows(one, 7), (std::pair<int64_t, int64_t>{0, 7}));
  EXPECT_THROW(train::rank_rows(one, 0), Error);
}

TEST(DistributedTest, GradientAllreduceOfOneProcessLeavesTheGradients) {
  Rng rng(4);
  nn::Linear<float> lin(3, 2, true, rng);
  auto params = lin.named_parameters();
  for (auto& [name, p] : params)
    for (int64_t k = 0; k < p->grad.numel(); ++k) p->grad[k] = static_cast<float>(k) - 1.5f;
  train::Communicator one;
  std::vector<float> buffer;
  EXPECT_EQ(train::allreduce_gradients(one, params, buffer), 0);
  for (auto& [name, p] : params)
    for (int64_t k = 0; k < p->grad.numel(); ++k) ASSERT_EQ(p->grad[k], static_cast<float>(k) - 1.5f) << name;
}

TEST(DistributedTest, AnyBatchFitsOneProcess) {
  train::TrainerOptions t;
  t.batch_size = 1;
  EXPECT_NO_THROW(t.validate());
  t.batch_size = 127;
  EXPECT_NO_THROW(t.validate());
}
